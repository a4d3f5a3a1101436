/*
 * ngx_pds_module: WebSocket (RFC 6455) on a connection nginx hands over,
 * for the subscriptions (subscribeRepos).
 *
 * The bottom of the sync layer: frames, not events.  The handshake checks
 * the upgrade request and queues the 101 answer; the request is then
 * taken over, nothing of nginx's HTTP answers it any more.  Frames written
 * go into one output buffer that ngx_pds_ws_send() writes with c->send as
 * the socket takes it.  Frames read are parsed as they come: pings are
 * answered, a close frame is echoed, data frames are dropped (the
 * subscriptions take no messages; text is checked as UTF-8 on the way,
 * nothing is kept but an incomplete sequence of up to 3 bytes).  What
 * RFC 6455 does not allow a client fails the connection: a close frame
 * with 1002 (1007 for text not in UTF-8), then the connection closes.
 */

#include "ngx_pds_sync.h"
#include <ngx_sha1.h>
#include "pds_cbor.h"


#define NGX_PDS_WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define NGX_PDS_WS_BUFFER    (64 * 1024)     /* output buffer at least */
#define NGX_PDS_WS_KEEP      (256 * 1024)    /* bigger buffers are freed */
#define NGX_PDS_WS_READ      4096


static ngx_int_t ngx_pds_ws_has_token(ngx_table_elt_t *h, const char *token);
static ngx_int_t ngx_pds_ws_reserve(ngx_pds_ws_t *ws, size_t n);
static ngx_int_t ngx_pds_ws_parse(ngx_pds_ws_t *ws, u_char *p, size_t n);


/* ---- the handshake ----------------------------------------------------- */


ngx_int_t
ngx_pds_ws_check(ngx_pds_ctx_t *ctx, ngx_str_t *key)
{
    ngx_table_elt_t     *h, *version;
    ngx_http_request_t  *r = ctx->request;

    h = ngx_pds_request_header(r, "Sec-WebSocket-Key");
    version = ngx_pds_request_header(r, "Sec-WebSocket-Version");

    if (r->method != NGX_HTTP_GET
        || r->http_version != NGX_HTTP_VERSION_11
#if (NGX_HTTP_V2)
        || r->stream
#endif
        || !ngx_pds_ws_has_token(ngx_pds_request_header(r, "Upgrade"),
                                 "websocket")
        || !ngx_pds_ws_has_token(ngx_pds_request_header(r, "Connection"),
                                 "upgrade")
        || h == NULL || h->value.len == 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "%V is a WebSocket subscription: HTTP/1.1 GET "
                             "with Upgrade: websocket expected",
                             &ctx->method->nsid);
    }

    if (version == NULL || version->value.len != 2
        || ngx_strncmp(version->value.data, "13", 2) != 0)
    {
        return ngx_pds_error(ctx, NGX_HTTP_BAD_REQUEST, "InvalidRequest",
                             "Sec-WebSocket-Version 13 expected");
    }

    *key = h->value;

    return NGX_OK;
}


/* queues "101 Switching Protocols" with the key's Sec-WebSocket-Accept */
ngx_int_t
ngx_pds_ws_init(ngx_pds_ws_t *ws, ngx_http_request_t *r, ngx_str_t *key)
{
    u_char      *p, digest[20];
    u_char       accept[ngx_base64_encoded_length(20)];
    ngx_str_t    src, dst;
    ngx_sha1_t   sha1;

    static u_char  head[] = "HTTP/1.1 101 Switching Protocols" CRLF
                            "Upgrade: websocket" CRLF
                            "Connection: Upgrade" CRLF
                            "Sec-WebSocket-Accept: ";

    ws->request = r;
    ws->conn = r->connection;
    ws->alive = 1;

    ngx_sha1_init(&sha1);
    ngx_sha1_update(&sha1, key->data, key->len);
    ngx_sha1_update(&sha1, NGX_PDS_WS_GUID, sizeof(NGX_PDS_WS_GUID) - 1);
    ngx_sha1_final(digest, &sha1);

    src.data = digest;
    src.len = sizeof(digest);
    dst.data = accept;
    ngx_encode_base64(&dst, &src);

    if (ngx_pds_ws_reserve(ws, sizeof(head) + dst.len + 4) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ws->out + ws->out_len, head, sizeof(head) - 1);
    p = ngx_cpymem(p, dst.data, dst.len);
    *p++ = CR; *p++ = LF; *p++ = CR; *p++ = LF;
    ws->out_len = p - ws->out;

    return NGX_OK;
}


/*
 * From here on the connection is the WebSocket's: the 101 answer (and
 * whatever frames are queued) goes out from the write handler, and
 * nothing else may answer the request.
 */
ngx_int_t
ngx_pds_ws_takeover(ngx_pds_ws_t *ws, ngx_http_event_handler_pt read,
    ngx_http_event_handler_pt write)
{
    ngx_connection_t    *c = ws->conn;
    ngx_http_request_t  *r = ws->request;

    r->keepalive = 0;
    r->lingering_close = 0;

    r->read_event_handler = read;
    r->write_event_handler = write;

    if (c->tcp_nodelay == NGX_TCP_NODELAY_UNSET) {
        (void) ngx_tcp_nodelay(c);
    }

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r->header_sent = 1;
    r->main->count++;

    ngx_post_event(c->write, &ngx_posted_events);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "pds: websocket: connection taken over");

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    return NGX_DONE;
}




/* a case-insensitive token in a comma-separated header value */
static ngx_int_t
ngx_pds_ws_has_token(ngx_table_elt_t *h, const char *token)
{
    u_char  *p, *last, *start;
    size_t   len;

    if (h == NULL) {
        return 0;
    }

    len = ngx_strlen(token);
    p = h->value.data;
    last = p + h->value.len;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        start = p;

        while (p < last && *p != ',' && *p != ' ' && *p != '\t') {
            p++;
        }

        if ((size_t) (p - start) == len
            && ngx_strncasecmp(start, (u_char *) token, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* ---- output ------------------------------------------------------------ */


static ngx_int_t
ngx_pds_ws_reserve(ngx_pds_ws_t *ws, size_t n)
{
    u_char  *p;
    size_t   cap, pending;

    if (ws->out_cap - ws->out_len >= n) {
        return NGX_OK;
    }

    pending = ngx_pds_ws_pending(ws);

    if (ws->out_pos && ws->out_cap - pending >= n) {
        ngx_memmove(ws->out, ws->out + ws->out_pos, pending);
        ws->out_pos = 0;
        ws->out_len = pending;
        return NGX_OK;
    }

    cap = ngx_max(NGX_PDS_WS_BUFFER, ws->out_cap * 2);

    if (cap < pending + n) {
        cap = pending + n;
    }

    p = ngx_palloc(ws->request->pool, cap);
    if (p == NULL) {
        return NGX_ERROR;
    }

    if (pending) {
        ngx_memcpy(p, ws->out + ws->out_pos, pending);
    }

    if (ws->out) {
        ngx_pfree(ws->request->pool, ws->out);
    }

    ws->out = p;
    ws->out_cap = cap;
    ws->out_pos = 0;
    ws->out_len = pending;

    return NGX_OK;
}


/* appends one unmasked, final frame */
ngx_int_t
ngx_pds_ws_frame(ngx_pds_ws_t *ws, ngx_uint_t opcode, const u_char *data,
    size_t n)
{
    u_char      *p;
    ngx_uint_t   i;

    if (ngx_pds_ws_reserve(ws, n + 10) != NGX_OK) {
        return NGX_ERROR;
    }

    p = ws->out + ws->out_len;

    *p++ = (u_char) (0x80 | opcode);

    if (n < 126) {
        *p++ = (u_char) n;

    } else if (n <= 0xffff) {
        *p++ = 126;
        *p++ = (u_char) (n >> 8);
        *p++ = (u_char) n;

    } else {
        *p++ = 127;
        for (i = 8; i > 0; i--) {
            *p++ = (u_char) ((uint64_t) n >> ((i - 1) * 8));
        }
    }

    if (n) {
        p = ngx_cpymem(p, data, n);
    }

    ws->out_len = p - ws->out;

    return NGX_OK;
}


/* a close frame with its status code; the connection closes once sent */
ngx_int_t
ngx_pds_ws_close_frame(ngx_pds_ws_t *ws, ngx_uint_t code)
{
    u_char  p[2];

    p[0] = (u_char) (code >> 8);
    p[1] = (u_char) code;

    if (ngx_pds_ws_frame(ws, NGX_PDS_WS_CLOSE, p, 2) != NGX_OK) {
        return NGX_ERROR;
    }

    ws->closing = 1;

    return NGX_OK;
}


ngx_int_t
ngx_pds_ws_send(ngx_pds_ws_t *ws)
{
    ssize_t            n;
    ngx_connection_t  *c = ws->conn;

    while (ws->out_pos < ws->out_len) {
        n = c->send(c, ws->out + ws->out_pos, ngx_pds_ws_pending(ws));

        if (n == NGX_ERROR) {
            c->error = 1;
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN || n == 0) {
            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        ws->out_pos += n;
    }

    ws->out_pos = 0;
    ws->out_len = 0;

    if (ws->out_cap > NGX_PDS_WS_KEEP) {
        ngx_pfree(ws->request->pool, ws->out);
        ws->out = NULL;
        ws->out_cap = 0;
    }

    return NGX_OK;
}


/* ---- input ------------------------------------------------------------ */


ngx_int_t
ngx_pds_ws_read(ngx_pds_ws_t *ws)
{
    u_char             buf[NGX_PDS_WS_READ];
    ssize_t            n;
    ngx_int_t          rc;
    ngx_connection_t  *c = ws->conn;

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                           "pds: websocket: the peer went away");
            return NGX_DONE;
        }

        if (ws->discard) {
            /* the connection is failed or closed: what comes is dropped */
            continue;
        }

        rc = ngx_pds_ws_parse(ws, buf, (size_t) n);

        if (rc == NGX_DONE) {
            return NGX_DONE;
        }

        if (rc == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "pds: websocket: no close frame could be queued");
            return NGX_DONE;
        }
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * Fails the connection (RFC 6455 7.1.7): a close frame with code is
 * queued, what the client sends from now on is dropped, and the
 * connection closes once the frame is out.  NGX_OK, NGX_DONE (a close
 * frame went out already: close now), or NGX_ERROR.
 */
static ngx_int_t
ngx_pds_ws_fail(ngx_pds_ws_t *ws, ngx_uint_t code, const char *why)
{
    ngx_log_error(NGX_LOG_INFO, ws->conn->log, 0,
                  "pds: websocket: client sent %s, closing with %ui",
                  why, code);

    ws->discard = 1;

    if (ws->closing) {
        return NGX_DONE;
    }

    return ngx_pds_ws_close_frame(ws, code);
}


/* a close code a client may send (RFC 6455 7.4) */
static ngx_uint_t
ngx_pds_ws_close_code_valid(ngx_uint_t code)
{
    if (code < 1000 || code >= 5000) {
        return 0;
    }

    if (code >= 3000) {
        return 1;                       /* registered, or private use */
    }

    if (code == 1004 || code == 1005 || code == 1006 || code >= 1015) {
        return 0;                       /* reserved, or not assigned */
    }

    return 1;
}


/* a complete control frame from the client */
static ngx_int_t
ngx_pds_ws_control(ngx_pds_ws_t *ws)
{
    ngx_uint_t  code;

    switch (ws->opcode) {

    case NGX_PDS_WS_PING:
        if (!ws->closing) {
            return ngx_pds_ws_frame(ws, NGX_PDS_WS_PONG, ws->ctl,
                                    ws->ctl_len);
        }
        return NGX_OK;

    case NGX_PDS_WS_CLOSE:
        if (ws->closing) {
            /* the answer to our close frame */
            return NGX_DONE;
        }

        if (ws->ctl_len == 0) {
            code = NGX_PDS_WS_NORMAL;

        } else if (ws->ctl_len == 1) {
            return ngx_pds_ws_fail(ws, NGX_PDS_WS_PROTOCOL,
                                   "a 1-byte close frame");

        } else {
            code = (ngx_uint_t) ws->ctl[0] << 8 | ws->ctl[1];

            if (!ngx_pds_ws_close_code_valid(code)) {
                return ngx_pds_ws_fail(ws, NGX_PDS_WS_PROTOCOL,
                                       "an invalid close code");
            }

            if (!pds_cbor_utf8_valid(ws->ctl + 2, ws->ctl_len - 2)) {
                return ngx_pds_ws_fail(ws, NGX_PDS_WS_INVALID_DATA,
                                       "a close reason not in UTF-8");
            }
        }

        /* echo the status code, and go */

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ws->conn->log, 0,
                       "pds: websocket: close %ui from the client", code);

        ws->discard = 1;

        return ngx_pds_ws_close_frame(ws, code);

    default:   /* pong */
        return NGX_OK;
    }
}


/*
 * One more byte of a frame header: NGX_AGAIN while incomplete, NGX_OK once
 * the frame is known (ws->opcode, ws->payload), NGX_ERROR if not allowed
 * (a protocol error, told as soon as the byte that makes it one is in).
 */
static ngx_int_t
ngx_pds_ws_header_byte(ngx_pds_ws_t *ws, u_char ch)
{
    size_t      need;
    uint64_t    len;
    ngx_uint_t  i, fin;

    ws->hdr[ws->hdr_len++] = ch;

    fin = ws->hdr[0] & 0x80;

    switch (ws->hdr_len) {

    case 1:
        if (ch & 0x70) {
            /* RSV1-3: no extension is negotiated */
            return NGX_ERROR;
        }

        ws->opcode = ch & 0x0f;

        switch (ws->opcode) {

        case NGX_PDS_WS_CONT:
            /* continues a message, if one was started */
            return ws->message ? NGX_AGAIN : NGX_ERROR;

        case NGX_PDS_WS_TEXT:
        case NGX_PDS_WS_BINARY:
            /* no new message in the middle of a fragmented one */
            return ws->message ? NGX_ERROR : NGX_AGAIN;

        case NGX_PDS_WS_CLOSE:
        case NGX_PDS_WS_PING:
        case NGX_PDS_WS_PONG:
            /* control frames are not fragmented */
            return fin ? NGX_AGAIN : NGX_ERROR;

        default:
            return NGX_ERROR;
        }

    case 2:
        if (!(ch & 0x80)) {
            /* clients must mask */
            return NGX_ERROR;
        }

        if (ws->opcode >= 0x8 && (ch & 0x7f) > 125) {
            return NGX_ERROR;
        }

        break;

    case 3:
        if ((ws->hdr[1] & 0x7f) == 127 && (ch & 0x80)) {
            /* the most significant bit of a 64-bit length must be 0 */
            return NGX_ERROR;
        }

        break;
    }

    len = ws->hdr[1] & 0x7f;
    need = 2 + 4 + (len == 126 ? 2 : 0) + (len == 127 ? 8 : 0);

    if (ws->hdr_len < need) {
        return NGX_AGAIN;
    }

    if (len == 126) {
        len = ((uint64_t) ws->hdr[2] << 8) | ws->hdr[3];

    } else if (len == 127) {
        len = 0;
        for (i = 0; i < 8; i++) {
            len = (len << 8) | ws->hdr[2 + i];
        }
    }

    ws->length = len;
    ws->payload = len;
    ws->ctl_len = 0;

    if (ws->opcode == NGX_PDS_WS_TEXT || ws->opcode == NGX_PDS_WS_BINARY) {
        ws->message = 1;
        ws->text = (ws->opcode == NGX_PDS_WS_TEXT);
        ws->utf8_len = 0;
    }

    return NGX_OK;
}


/*
 * n more payload bytes of a text message (n is at most NGX_PDS_WS_READ):
 * unmasked and checked as UTF-8; an incomplete sequence at the end is
 * kept for the next bytes.  NGX_OK, or NGX_DECLINED if not UTF-8.
 */
static ngx_int_t
ngx_pds_ws_text(ngx_pds_ws_t *ws, u_char *p, size_t n)
{
    u_char    *mask, ch;
    u_char     buf[sizeof(ws->utf8) + NGX_PDS_WS_READ];
    size_t     len, i, need, tail;
    uint64_t   off;

    mask = ws->hdr + ws->hdr_len - 4;
    off = ws->length - ws->payload;

    len = ws->utf8_len;
    ngx_memcpy(buf, ws->utf8, len);

    for (i = 0; i < n; i++) {
        buf[len++] = p[i] ^ mask[(off + i) & 3];
    }

    /* a lead byte in the last 3 whose sequence is not complete yet */

    tail = 0;

    for (i = 1; i <= sizeof(ws->utf8) && i <= len; i++) {
        ch = buf[len - i];

        if ((ch & 0xc0) == 0x80) {
            continue;
        }

        need = (ch >= 0xf0) ? 4 : (ch >= 0xe0) ? 3 : (ch >= 0xc0) ? 2 : 1;

        if (need > i) {
            tail = i;
        }

        break;
    }

    if (!pds_cbor_utf8_valid(buf, len - tail)) {
        return NGX_DECLINED;
    }

    ngx_memcpy(ws->utf8, buf + len - tail, tail);
    ws->utf8_len = tail;

    return NGX_OK;
}


/*
 * Parses client frames in p..p+n: answers pings and close frames, checks
 * text messages, drops data.  NGX_OK (a protocol error too: the close
 * frame is queued), NGX_DONE (close now) or NGX_ERROR.
 */
static ngx_int_t
ngx_pds_ws_parse(ngx_pds_ws_t *ws, u_char *p, size_t n)
{
    u_char     *last, *mask;
    size_t      take, i;
    ngx_int_t   rc;
    ngx_uint_t  fin;

    last = p + n;

    while (p < last) {

        if (!ws->in_frame) {
            rc = ngx_pds_ws_header_byte(ws, *p++);

            if (rc == NGX_AGAIN) {
                continue;
            }

            if (rc != NGX_OK) {
                return ngx_pds_ws_fail(ws, NGX_PDS_WS_PROTOCOL,
                                       "a frame not allowed");
            }

            ws->in_frame = 1;
            ws->alive = 1;
        }

        take = (size_t) ngx_min((uint64_t) (last - p), ws->payload);

        if (ws->opcode >= 0x8) {
            mask = ws->hdr + ws->hdr_len - 4;

            for (i = 0; i < take; i++) {
                ws->ctl[ws->ctl_len] = p[i] ^ mask[ws->ctl_len & 3];
                ws->ctl_len++;
            }

        } else if (ws->text && take) {
            if (ngx_pds_ws_text(ws, p, take) != NGX_OK) {
                return ngx_pds_ws_fail(ws, NGX_PDS_WS_INVALID_DATA,
                                       "a text message not in UTF-8");
            }
        }

        p += take;
        ws->payload -= take;

        if (ws->payload) {
            continue;
        }

        fin = ws->hdr[0] & 0x80;

        ws->in_frame = 0;
        ws->hdr_len = 0;

        if (ws->opcode >= 0x8) {
            rc = ngx_pds_ws_control(ws);

            if (rc != NGX_OK || ws->discard) {
                return rc;
            }

            continue;
        }

        if (!fin) {
            continue;
        }

        /* the end of a data message: dropped, its bytes were not kept */

        ws->message = 0;

        if (ws->text && ws->utf8_len) {
            return ngx_pds_ws_fail(ws, NGX_PDS_WS_INVALID_DATA,
                                   "a text message not in UTF-8");
        }

        ws->text = 0;
    }

    return NGX_OK;
}
