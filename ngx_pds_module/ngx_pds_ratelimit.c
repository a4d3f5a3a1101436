/*
 * ngx_pds_module: repository write rate limits, as the reference's:
 * points per write (create 3, update 2, delete 1) against two buckets per
 * account, 5000 points an hour and 35000 a day.  Counters live in one
 * shared memory zone, so every worker sees the same totals; fixed windows
 * that start with an account's first write in them.
 */

#include "ngx_pds.h"


#define NGX_PDS_RL_ZONE_SIZE   (4 * 1024 * 1024)
#define NGX_PDS_RL_HOUR        3600
#define NGX_PDS_RL_DAY         86400
#define NGX_PDS_RL_HOUR_MAX    5000
#define NGX_PDS_RL_DAY_MAX     35000


typedef struct {
    ngx_rbtree_node_t        node;          /* key: hash of tenant + DID */
    time_t                   hour_start;
    time_t                   day_start;
    ngx_uint_t               hour_points;
    ngx_uint_t               day_points;
    u_char                   len;
    u_char                   name[1];       /* tenant '\0' did */
} ngx_pds_rl_node_t;


typedef struct {
    ngx_rbtree_t             rbtree;
    ngx_rbtree_node_t        sentinel;
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


static void
ngx_pds_rl_headers(ngx_http_request_t *r, ngx_uint_t limit,
    ngx_uint_t remaining, time_t reset, ngx_uint_t window)
{
    u_char           *p;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;
    static const char *names[] = { "RateLimit-Limit", "RateLimit-Remaining",
                                   "RateLimit-Reset", "RateLimit-Policy" };

    if (ngx_pds_cors_expose_rate_limits(r) != NGX_OK) {
        return;
    }

    for (i = 0; i < 4; i++) {
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
        default:
            h->value.len = ngx_sprintf(p, "%ui;w=%ui", limit, window) - p;
            break;
        }
    }
}


/*
 * Charges points to the caller's account; NGX_OK, or NGX_DECLINED with a
 * 429 RateLimitExceeded sent (ctx->sent_rc).  Nothing is charged for a
 * refused request.
 */
ngx_int_t
ngx_pds_ratelimit(ngx_pds_ctx_t *ctx, ngx_uint_t points)
{
    size_t              len;
    time_t              now;
    uint32_t            hash;
    ngx_uint_t          limited, limit, remaining, window;
    time_t              reset;
    ngx_str_t          *host;
    ngx_pds_rl_ctx_t   *rl;
    ngx_pds_rl_node_t  *n;
    ngx_rbtree_node_t  *node, *sentinel;
    u_char              name[512];

    if (!ctx->conf->rate_limits || ngx_pds_rl_zone == NULL
        || ctx->auth.did == NULL)
    {
        return NGX_OK;
    }

    rl = ngx_pds_rl_zone->data;
    host = &ctx->conf->hostname;

    len = host->len + 1 + ngx_strlen(ctx->auth.did);
    if (len > 255) {
        return NGX_OK;
    }

    ngx_memcpy(name, host->data, host->len);
    name[host->len] = '\0';
    ngx_memcpy(name + host->len + 1, ctx->auth.did, len - host->len - 1);

    hash = ngx_crc32_short(name, len);
    now = ngx_time();

    ngx_shmtx_lock(&rl->shpool->mutex);

    node = rl->sh->rbtree.root;
    sentinel = rl->sh->rbtree.sentinel;
    n = NULL;

    while (node != sentinel) {
        if (hash != node->key) {
            node = (hash < node->key) ? node->left : node->right;
            continue;
        }

        n = (ngx_pds_rl_node_t *) node;
        if (ngx_memn2cmp(name, n->name, len, n->len) == 0) {
            break;
        }

        node = (ngx_memn2cmp(name, n->name, len, n->len) < 0)
               ? node->left : node->right;
        n = NULL;
    }

    if (n == NULL) {
        n = ngx_slab_alloc_locked(rl->shpool,
                                  offsetof(ngx_pds_rl_node_t, name) + len);
        if (n == NULL) {
            /* the zone is full: do not refuse writes because of it */
            ngx_shmtx_unlock(&rl->shpool->mutex);
            return NGX_OK;
        }

        n->node.key = hash;
        n->len = (u_char) len;
        ngx_memcpy(n->name, name, len);
        n->hour_start = now;
        n->day_start = now;
        n->hour_points = 0;
        n->day_points = 0;

        ngx_rbtree_insert(&rl->sh->rbtree, &n->node);
    }

    if (now - n->hour_start >= NGX_PDS_RL_HOUR) {
        n->hour_start = now;
        n->hour_points = 0;
    }

    if (now - n->day_start >= NGX_PDS_RL_DAY) {
        n->day_start = now;
        n->day_points = 0;
    }

    limited = (n->hour_points + points > NGX_PDS_RL_HOUR_MAX
               || n->day_points + points > NGX_PDS_RL_DAY_MAX);

    if (!limited) {
        n->hour_points += points;
        n->day_points += points;
    }

    /* report the tighter bucket */

    if (NGX_PDS_RL_DAY_MAX - n->day_points
        < NGX_PDS_RL_HOUR_MAX - n->hour_points)
    {
        limit = NGX_PDS_RL_DAY_MAX;
        remaining = NGX_PDS_RL_DAY_MAX - n->day_points;
        reset = n->day_start + NGX_PDS_RL_DAY;
        window = NGX_PDS_RL_DAY;

    } else {
        limit = NGX_PDS_RL_HOUR_MAX;
        remaining = NGX_PDS_RL_HOUR_MAX - n->hour_points;
        reset = n->hour_start + NGX_PDS_RL_HOUR;
        window = NGX_PDS_RL_HOUR;
    }

    ngx_shmtx_unlock(&rl->shpool->mutex);

    ngx_pds_rl_headers(ctx->request, limit, remaining, reset, window);

    if (limited) {
        return ngx_pds_fail(ctx, 429, "RateLimitExceeded",
                            "Rate Limit Exceeded");
    }

    return NGX_OK;
}
