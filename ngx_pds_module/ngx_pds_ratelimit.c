/*
 * ngx_pds_module: rate limits, as the reference's.
 *
 * Repository writes: points per write (create 3, update 2, delete 1)
 * against two buckets per account, 5000 points an hour and 35000 a day.
 * Route limits: the methods the reference limits, with its windows, points
 * and keys (the client's address, the account, or createSession's
 * identifier and address), one point a call.
 *
 * Counters live in one shared memory zone, so every worker sees the same
 * totals; fixed windows that start with a key's first request in them.
 * Keys whose windows have all passed are dropped, oldest first, as the
 * zone is used (and all the more when it is full), as nginx's limit_req
 * does.  Nothing is charged for a refused request.
 */

#include "ngx_pds.h"


#define NGX_PDS_RL_ZONE_SIZE   (4 * 1024 * 1024)
#define NGX_PDS_RL_MINUTE      60
#define NGX_PDS_RL_HOUR        3600
#define NGX_PDS_RL_DAY         86400
#define NGX_PDS_RL_RULES       2
#define NGX_PDS_RL_NAME_MAX    1024


typedef struct {
    time_t                   window;        /* seconds; 0: unused */
    ngx_uint_t               max;           /* points in it */
} ngx_pds_rl_rule_t;


typedef enum {
    NGX_PDS_RL_KEY_IP = 0,                  /* the client's address */
    NGX_PDS_RL_KEY_DID,                     /* the authenticated account */
    NGX_PDS_RL_KEY_IDENTIFIER_IP            /* createSession's */
} ngx_pds_rl_key_e;


typedef struct {
    const char              *nsid;
    ngx_pds_rl_key_e         key;
    ngx_pds_rl_rule_t        rules[NGX_PDS_RL_RULES];
} ngx_pds_rl_route_t;


/* the reference's (packages/pds/src/api), 0.5.35 */
static const ngx_pds_rl_route_t  ngx_pds_rl_routes[] = {
    { "com.atproto.server.createSession", NGX_PDS_RL_KEY_IDENTIFIER_IP,
      { { NGX_PDS_RL_DAY, 300 }, { 5 * NGX_PDS_RL_MINUTE, 30 } } },
    { "com.atproto.server.createAccount", NGX_PDS_RL_KEY_IP,
      { { 5 * NGX_PDS_RL_MINUTE, 100 }, { 0, 0 } } },
    { "com.atproto.server.deleteAccount", NGX_PDS_RL_KEY_IP,
      { { 5 * NGX_PDS_RL_MINUTE, 50 }, { 0, 0 } } },
    { "com.atproto.server.requestPasswordReset", NGX_PDS_RL_KEY_IP,
      { { NGX_PDS_RL_DAY, 50 }, { NGX_PDS_RL_HOUR, 15 } } },
    { "com.atproto.server.resetPassword", NGX_PDS_RL_KEY_IP,
      { { 5 * NGX_PDS_RL_MINUTE, 50 }, { 0, 0 } } },
    { "com.atproto.server.requestEmailUpdate", NGX_PDS_RL_KEY_DID,
      { { NGX_PDS_RL_DAY, 15 }, { NGX_PDS_RL_HOUR, 5 } } },
    { "com.atproto.server.requestEmailConfirmation", NGX_PDS_RL_KEY_DID,
      { { NGX_PDS_RL_DAY, 15 }, { NGX_PDS_RL_HOUR, 5 } } },
    { "com.atproto.server.requestAccountDelete", NGX_PDS_RL_KEY_DID,
      { { NGX_PDS_RL_DAY, 15 }, { NGX_PDS_RL_HOUR, 5 } } },
    { "com.atproto.identity.updateHandle", NGX_PDS_RL_KEY_DID,
      { { 5 * NGX_PDS_RL_MINUTE, 10 }, { NGX_PDS_RL_DAY, 50 } } },
    { "com.atproto.repo.uploadBlob", NGX_PDS_RL_KEY_IP,
      { { NGX_PDS_RL_DAY, 1000 }, { 0, 0 } } },
    { "com.atproto.sync.getRepo", NGX_PDS_RL_KEY_IP,
      { { 5 * NGX_PDS_RL_MINUTE, 6000 }, { 0, 0 } } },
    { NULL, 0, { { 0, 0 }, { 0, 0 } } }
};


/* repository writes, per account */
static const ngx_pds_rl_rule_t  ngx_pds_rl_write_rules[NGX_PDS_RL_RULES] = {
    { NGX_PDS_RL_HOUR, 5000 }, { NGX_PDS_RL_DAY, 35000 }
};


typedef struct {
    ngx_rbtree_node_t        node;          /* key: hash of the name */
    ngx_queue_t              queue;         /* most recently used first */
    time_t                   start[NGX_PDS_RL_RULES];
    ngx_uint_t               points[NGX_PDS_RL_RULES];
    time_t                   expire;        /* every window has passed */
    u_short                  len;
    u_char                   name[1];       /* tenant '\0' bucket '\0' key */
} ngx_pds_rl_node_t;


typedef struct {
    ngx_rbtree_t             rbtree;
    ngx_rbtree_node_t        sentinel;
    ngx_queue_t              queue;
} ngx_pds_rl_shm_t;


typedef struct {
    ngx_pds_rl_shm_t        *sh;
    ngx_slab_pool_t         *shpool;
} ngx_pds_rl_ctx_t;


static ngx_shm_zone_t  *ngx_pds_rl_zone;


static void
ngx_pds_rl_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;
    ngx_pds_rl_node_t   *n, *t;

    for ( ;; ) {
        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = (ngx_pds_rl_node_t *) node;
            t = (ngx_pds_rl_node_t *) temp;

            p = (ngx_memn2cmp(n->name, t->name, n->len, t->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}

static ngx_int_t
ngx_pds_rl_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_pds_rl_ctx_t  *octx = data;
    ngx_pds_rl_ctx_t  *ctx = shm_zone->data;

    if (octx) {
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_pds_rl_shm_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_pds_rl_insert);
    ngx_queue_init(&ctx->sh->queue);

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


ngx_int_t
ngx_pds_ratelimit_init_conf(ngx_conf_t *cf)
{
    ngx_str_t          name;
    ngx_pds_rl_ctx_t  *ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_pds_rl_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&name, "pds_rate_limits");

    ngx_pds_rl_zone = ngx_shared_memory_add(cf, &name, NGX_PDS_RL_ZONE_SIZE,
                                            &ngx_pds_module);
    if (ngx_pds_rl_zone == NULL) {
        return NGX_ERROR;
    }

    ngx_pds_rl_zone->init = ngx_pds_rl_init_zone;
    ngx_pds_rl_zone->data = ctx;

    return NGX_OK;
}


/*
 * Drops keys whose windows have all passed, from the least recently used:
 * at most two when n is 0 (a look at each request), n otherwise (the zone
 * is full: those even if a window is still open).  Called locked.
 */
static void
ngx_pds_rl_expire(ngx_pds_rl_ctx_t *rl, time_t now, ngx_uint_t n)
{
    ngx_uint_t          i;
    ngx_queue_t        *q;
    ngx_pds_rl_node_t  *node;

    for (i = 0; i < (n ? n : 2); i++) {
        if (ngx_queue_empty(&rl->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&rl->sh->queue);
        node = ngx_queue_data(q, ngx_pds_rl_node_t, queue);

        if (n == 0 && node->expire > now) {
            return;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&rl->sh->rbtree, &node->node);
        ngx_slab_free_locked(rl->shpool, node);
    }
}


static ngx_pds_rl_node_t *
ngx_pds_rl_lookup(ngx_pds_rl_ctx_t *rl, uint32_t hash, u_char *name,
    size_t len)
{
    ngx_int_t           c;
    ngx_pds_rl_node_t  *n;
    ngx_rbtree_node_t  *node, *sentinel;

    node = rl->sh->rbtree.root;
    sentinel = rl->sh->rbtree.sentinel;

    while (node != sentinel) {
        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        n = (ngx_pds_rl_node_t *) node;
        c = ngx_memn2cmp(name, n->name, len, n->len);

        if (c == 0) {
            return n;
        }

        node = (c < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_pds_rl_headers(ngx_http_request_t *r, ngx_uint_t limit,
    ngx_uint_t remaining, time_t reset, ngx_uint_t window,
    time_t retry_after)
{
    u_char           *p;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;
    static const char *names[] = { "RateLimit-Limit", "RateLimit-Remaining",
                                   "RateLimit-Reset", "RateLimit-Policy",
                                   "Retry-After" };

    if (ngx_pds_cors_expose_rate_limits(r, retry_after > 0) != NGX_OK) {
        return;
    }

    for (i = 0; i < (retry_after > 0 ? 5 : 4); i++) {
        h = ngx_list_push(&r->headers_out.headers);
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN * 2 + 4);
        if (h == NULL || p == NULL) {
            return;
        }

        h->hash = 1;
        h->key.data = (u_char *) names[i];
        h->key.len = ngx_strlen(names[i]);
        h->value.data = p;

        switch (i) {
        case 0:
            h->value.len = ngx_sprintf(p, "%ui", limit) - p;
            break;
        case 1:
            h->value.len = ngx_sprintf(p, "%ui", remaining) - p;
            break;
        case 2:
            h->value.len = ngx_sprintf(p, "%T", reset) - p;
            break;
        case 3:
            h->value.len = ngx_sprintf(p, "%ui;w=%ui", limit, window) - p;
            break;
        default:
            h->value.len = ngx_sprintf(p, "%T", retry_after) - p;
            break;
        }
    }
}


/*
 * Charges points to the key name (tenant '\0' bucket '\0' key) under the
 * rules; NGX_OK, or NGX_BUSY: over a limit (nothing charged).  The
 * headers report the tightest rule, or on a refusal the one refused (with
 * Retry-After, as the reference).
 */
static ngx_int_t
ngx_pds_rl_charge(ngx_pds_ctx_t *ctx, u_char *name, size_t len,
    const ngx_pds_rl_rule_t *rules, ngx_uint_t points)
{
    time_t              now, reset, expire;
    uint32_t            hash;
    ngx_uint_t          i, limited, limit, remaining, window, best, left;
    ngx_pds_rl_ctx_t   *rl;
    ngx_pds_rl_node_t  *n;

    rl = ngx_pds_rl_zone->data;
    hash = ngx_crc32_short(name, len);
    now = ngx_time();

    ngx_shmtx_lock(&rl->shpool->mutex);

    ngx_pds_rl_expire(rl, now, 0);

    n = ngx_pds_rl_lookup(rl, hash, name, len);

    if (n == NULL) {
        n = ngx_slab_alloc_locked(rl->shpool,
                                  offsetof(ngx_pds_rl_node_t, name) + len);
        if (n == NULL) {
            ngx_pds_rl_expire(rl, now, 16);
            n = ngx_slab_alloc_locked(rl->shpool,
                                      offsetof(ngx_pds_rl_node_t, name)
                                      + len);
        }

        if (n == NULL) {
            /* still full: do not refuse requests because of it */
            ngx_shmtx_unlock(&rl->shpool->mutex);
            ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                          "pds: the rate limit zone is full");
            return NGX_OK;
        }

        ngx_memzero(n, offsetof(ngx_pds_rl_node_t, name));
        n->node.key = hash;
        n->len = (u_short) len;
        ngx_memcpy(n->name, name, len);

        for (i = 0; i < NGX_PDS_RL_RULES; i++) {
            n->start[i] = now;
        }

        ngx_rbtree_insert(&rl->sh->rbtree, &n->node);

    } else {
        ngx_queue_remove(&n->queue);
    }

    ngx_queue_insert_head(&rl->sh->queue, &n->queue);

    limited = NGX_PDS_RL_RULES;
    expire = now;

    for (i = 0; i < NGX_PDS_RL_RULES; i++) {
        if (rules[i].window == 0) {
            continue;
        }

        if (now - n->start[i] >= rules[i].window) {
            n->start[i] = now;
            n->points[i] = 0;
        }

        if (limited == NGX_PDS_RL_RULES
            && n->points[i] + points > rules[i].max)
        {
            limited = i;
        }
    }

    best = 0;
    left = (ngx_uint_t) -1;

    for (i = 0; i < NGX_PDS_RL_RULES; i++) {
        if (rules[i].window == 0) {
            continue;
        }

        if (limited == NGX_PDS_RL_RULES) {
            n->points[i] += points;
        }

        if (n->start[i] + rules[i].window > expire) {
            expire = n->start[i] + rules[i].window;
        }

        if (rules[i].max - ngx_min(n->points[i], rules[i].max) < left) {
            left = rules[i].max - ngx_min(n->points[i], rules[i].max);
            best = i;
        }
    }

    if (limited != NGX_PDS_RL_RULES) {
        best = limited;
    }

    n->expire = expire;
    limit = rules[best].max;
    remaining = limit - ngx_min(n->points[best], limit);
    reset = n->start[best] + rules[best].window;
    window = rules[best].window;

    ngx_shmtx_unlock(&rl->shpool->mutex);

    ngx_pds_rl_headers(ctx->request, limit, remaining, reset, window,
                       limited != NGX_PDS_RL_RULES
                       ? ngx_max(reset - now, 1) : 0);

    return (limited != NGX_PDS_RL_RULES) ? NGX_BUSY : NGX_OK;
}


/* NGX_OK, or NGX_DECLINED with the reference's 429 sent (ctx->sent_rc) */
static ngx_int_t
ngx_pds_rl_answer(ngx_pds_ctx_t *ctx, ngx_int_t rc)
{
    if (rc == NGX_BUSY) {
        return ngx_pds_fail(ctx, 429, "RateLimitExceeded",
                            "Rate Limit Exceeded");
    }

    return NGX_OK;
}


/* tenant '\0' bucket '\0' key into name; its length, or 0: too long */
static size_t
ngx_pds_rl_name(u_char *name, ngx_str_t *tenant, const char *bucket,
    u_char *key, size_t key_len)
{
    size_t  b, len;

    b = ngx_strlen(bucket);
    len = tenant->len + 1 + b + 1 + key_len;

    if (len > NGX_PDS_RL_NAME_MAX) {
        return 0;
    }

    ngx_memcpy(name, tenant->data, tenant->len);
    name[tenant->len] = '\0';
    ngx_memcpy(name + tenant->len + 1, bucket, b);
    name[tenant->len + 1 + b] = '\0';
    ngx_memcpy(name + tenant->len + 2 + b, key, key_len);

    return len;
}


/*
 * createSession's key, "<identifier>-<address>", into key (of
 * NGX_PDS_RL_NAME_MAX bytes); its length.  The identifier is lower-cased:
 * handles and emails are matched without case, so "Ann.test" and
 * "ann.test" are one account and count as one (the reference keys the
 * identifier as given, which lets each spelling guess anew).
 */
static size_t
ngx_pds_rl_identifier_key(u_char *key, const char *identifier, ngx_str_t *ip)
{
    size_t  klen;

    klen = ngx_strlen(identifier);

    if (klen + 1 + ip->len > NGX_PDS_RL_NAME_MAX) {
        /* no account has such a name; still limit the address */
        klen = 0;
    }

    ngx_strlow(key, (u_char *) identifier, klen);
    key[klen++] = '-';
    ngx_memcpy(key + klen, ip->data, ip->len);

    return klen + ip->len;
}


/*
 * Charges points to the caller's account; NGX_OK, or NGX_DECLINED with a
 * 429 RateLimitExceeded sent (ctx->sent_rc).
 */
ngx_int_t
ngx_pds_ratelimit(ngx_pds_ctx_t *ctx, ngx_uint_t points)
{
    size_t  len;
    u_char  name[NGX_PDS_RL_NAME_MAX];

    if (!ctx->conf->rate_limits || ngx_pds_rl_zone == NULL
        || ctx->auth.did == NULL)
    {
        return NGX_OK;
    }

    len = ngx_pds_rl_name(name, &ctx->conf->hostname, "repo-write",
                          (u_char *) ctx->auth.did,
                          ngx_strlen(ctx->auth.did));
    if (len == 0) {
        return NGX_OK;
    }

    return ngx_pds_rl_answer(ctx, ngx_pds_rl_charge(ctx, name, len,
                                                    ngx_pds_rl_write_rules,
                                                    points));
}


/*
 * The called method's route limits, one point a call, keyed as the
 * reference keys them; NGX_OK, or NGX_DECLINED with a 429 sent.
 */
ngx_int_t
ngx_pds_ratelimit_route(ngx_pds_ctx_t *ctx)
{
    size_t                     len, klen;
    json_t                    *id;
    ngx_str_t                 *ip;
    const char                *s;
    const ngx_pds_rl_route_t  *rt;
    u_char                     key[NGX_PDS_RL_NAME_MAX];
    u_char                     name[NGX_PDS_RL_NAME_MAX];

    if (!ctx->conf->rate_limits || ngx_pds_rl_zone == NULL) {
        return NGX_OK;
    }

    for (rt = ngx_pds_rl_routes; rt->nsid; rt++) {
        if (ctx->method->nsid.len == ngx_strlen(rt->nsid)
            && ngx_strncmp(ctx->method->nsid.data, rt->nsid,
                           ctx->method->nsid.len) == 0)
        {
            break;
        }
    }

    if (rt->nsid == NULL) {
        return NGX_OK;
    }

    ip = &ctx->request->connection->addr_text;

    switch (rt->key) {

    case NGX_PDS_RL_KEY_DID:
        if (ctx->auth.did == NULL) {
            return NGX_OK;
        }

        klen = ngx_min(ngx_strlen(ctx->auth.did), sizeof(key));
        ngx_memcpy(key, ctx->auth.did, klen);
        break;

    case NGX_PDS_RL_KEY_IDENTIFIER_IP:
        id = ctx->body ? json_object_get(ctx->body, "identifier") : NULL;
        s = json_is_string(id) ? json_string_value(id) : "";
        klen = ngx_pds_rl_identifier_key(key, s, ip);
        break;

    default: /* NGX_PDS_RL_KEY_IP */
        klen = ngx_min(ip->len, sizeof(key));
        ngx_memcpy(key, ip->data, klen);
        break;
    }

    len = ngx_pds_rl_name(name, &ctx->conf->hostname, rt->nsid, key, klen);
    if (len == 0) {
        return NGX_OK;
    }

    return ngx_pds_rl_answer(ctx, ngx_pds_rl_charge(ctx, name, len,
                                                    rt->rules, 1));
}


/*
 * A password tried on the OAuth sign-in page: counted with createSession's
 * attempts of the same identifier from the same address (its limits, its
 * counters); NGX_OK, or NGX_BUSY (nothing sent: the page says it).
 */
ngx_int_t
ngx_pds_ratelimit_signin(ngx_pds_ctx_t *ctx, const char *identifier)
{
    size_t      len, klen;
    ngx_str_t  *ip;
    u_char      key[NGX_PDS_RL_NAME_MAX];
    u_char      name[NGX_PDS_RL_NAME_MAX];

    if (!ctx->conf->rate_limits || ngx_pds_rl_zone == NULL) {
        return NGX_OK;
    }

    ip = &ctx->request->connection->addr_text;
    klen = ngx_pds_rl_identifier_key(key, identifier, ip);

    /* ngx_pds_rl_routes[0]: createSession */
    len = ngx_pds_rl_name(name, &ctx->conf->hostname,
                          ngx_pds_rl_routes[0].nsid, key, klen);
    if (len == 0) {
        return NGX_OK;
    }

    return ngx_pds_rl_charge(ctx, name, len, ngx_pds_rl_routes[0].rules, 1);
}
