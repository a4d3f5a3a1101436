/*
 * Unit tests: pds_oauth_scope (atproto permission scopes), against what
 * the reference's @atproto/oauth-scopes answers (t/core/oauth_scope_vectors.h,
 * made by oauth_scope_vectors.mjs): which values are scopes and of what
 * kind, what a token's scope allows, the scope a refusal names.
 */

#include <stdio.h>
#include <string.h>

#include "pds_oauth_scope.h"
#include "tap.h"

#include "oauth_scope_vectors.h"

#define N(a)  (sizeof(a) / sizeof((a)[0]))


static pds_scope_kind_e
kind_of(const char *k)
{
    return strcmp(k, "REPO") == 0 ? PDS_SCOPE_REPO
           : strcmp(k, "RPC") == 0 ? PDS_SCOPE_RPC
           : strcmp(k, "BLOB") == 0 ? PDS_SCOPE_BLOB
           : strcmp(k, "ACCOUNT") == 0 ? PDS_SCOPE_ACCOUNT
           : PDS_SCOPE_IDENTITY;
}


int
main(void)
{
    char                buf[512];
    long                n;
    size_t              i, j;
    pds_scope_need_t    need;
    pds_scope_parsed_t  ps;

    for (i = 0; i < N(kinds); i++) {
        tap_ok(pds_scope_value_kind(kinds[i].v, strlen(kinds[i].v))
               == kinds[i].kind, "kind of \"%s\" is %d", kinds[i].v,
               kinds[i].kind);
    }

    for (j = 0; j < N(needs); j++) {
        need.kind = kind_of(needs[j].kind);
        need.a = needs[j].a;
        need.b = needs[j].b;
        n = pds_scope_needed(buf, sizeof(buf), &need);
        tap_ok(n > 0 && strcmp(buf, needs[j].needed) == 0,
               "needed %s %s %s: %s", needs[j].kind, needs[j].a, needs[j].b,
               n > 0 ? buf : "(none)");
    }

    for (i = 0; i < N(tokens); i++) {
        for (j = 0; j < N(needs); j++) {
            need.kind = kind_of(needs[j].kind);
            need.a = needs[j].a;
            need.b = needs[j].b;
            tap_ok(pds_scope_allows(tokens[i], strlen(tokens[i]), &need)
                   == allows[i][j], "\"%s\" %s %s %s: %d", tokens[i],
                   needs[j].kind, needs[j].a, needs[j].b, allows[i][j]);
        }
    }

    /* the fields as read for the consent page */
    tap_ok(pds_scope_parse("repo?collection=app.bsky.feed.post&collection="
                           "app.bsky.feed.like&action=update", 78, &ps) == 0
           && ps.kind == PDS_SCOPE_REPO && ps.n[0] == 2 && ps.n[1] == 1
           && strcmp(ps.v[0][1], "app.bsky.feed.like") == 0
           && strcmp(ps.v[1][0], "update") == 0, "repo fields");
    tap_ok(pds_scope_parse("account:email", 13, &ps) == 0 && ps.n[1] == 0
           && strcmp(ps.v[0][0], "email") == 0, "account default action");

    /* limits: too long, too many values, a buffer too small */
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "repo:", 5);
    tap_ok(pds_scope_value_kind(buf, PDS_SCOPE_VALUE_MAX + 1)
           == PDS_SCOPE_NONE, "a value over the maximum is not a scope");
    need.kind = PDS_SCOPE_REPO;
    need.a = "app.bsky.feed.post";
    need.b = "create";
    tap_ok(pds_scope_needed(buf, 10, &need) == -1, "needed: short buffer");

    return tap_done();
}
