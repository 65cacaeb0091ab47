/* dp_tls: OpenSSL contexts for listeners and ssl_client (see dp_tls.h). */
#include "dp_tls.h"
#include "dp_tls_name.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* TLS 1.2: forward secrecy and AEAD only (TLS 1.3 suites: OpenSSL's
 * defaults, which are all of that kind). */
#define TLS12_CIPHERS                                                     \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"          \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"          \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* TLS 1.3: AES-128-GCM first (as secure as the others, the cheapest
 * with AES-NI), the server's order deciding, except that a client that
 * puts ChaCha20 first (no AES in hardware) gets it. */
#define TLS13_SUITES                                                      \
    "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"               \
    "TLS_AES_256_GCM_SHA384"
#define SESSION_CACHE_SIZE 20480          /* sessions per worker */
#define SESSION_TIMEOUT_S 3600            /* cache and ticket lifetime */

struct cert_pair {
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;
};

struct dp_tls_server {
    SSL_CTX *ctx;
    struct cert_pair *pairs;
    size_t n_pairs;
    struct dp_tls_name *names;        /* name strings malloc()ed */
    size_t n_names;
    bool sts;
    bool redirect_http;
};

struct dp_tls_client {
    struct dp_tls_client_cert *certs;
    size_t n;
};

static void tls_error(struct dp_config_error *err, const char *file,
                      unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
tls_error(struct dp_config_error *err, const char *file, unsigned line,
          const char *fmt, ...)
{
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", file != NULL ? file : "");
    err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    if (err->file[0] != '\0' && line > 0)
        snprintf(err->text, sizeof(err->text), "%s:%u: %s", err->file, line,
                 err->message);
    else if (err->file[0] != '\0')
        snprintf(err->text, sizeof(err->text), "%s: %s", err->file,
                 err->message);
    else
        snprintf(err->text, sizeof(err->text), "%s", err->message);
}

const char *
dp_tls_error_reason(const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r != NULL ? r : fallback;
}

/* Never prompt for a pass phrase: encrypted keys are refused. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static void
pair_free(struct cert_pair *p)
{
    X509_free(p->cert);
    EVP_PKEY_free(p->key);
    if (p->chain != NULL)
        sk_X509_pop_free(p->chain, X509_free);
    memset(p, 0, sizeof(*p));
}

/* Read a certificate file (the certificate, then its chain) and a key
 * file, and check that they belong together.  `what` names the option
 * in messages. */
static int
pair_load(struct cert_pair *p, const struct dp_config_cert *c,
          const char *what, struct dp_config_error *err)
{
    memset(p, 0, sizeof(*p));
    FILE *f = fopen(c->cert, "r");
    if (f == NULL) {
        tls_error(err, c->file, c->line, "%s: cannot open certificate %s: %s",
                  what, c->cert, strerror(errno));
        return -EINVAL;
    }
    ERR_clear_error();
    p->cert = PEM_read_X509(f, NULL, no_password, NULL);
    if (p->cert == NULL) {
        fclose(f);
        tls_error(err, c->file, c->line,
                  "%s: %s holds no PEM certificate (%s)", what, c->cert,
                  dp_tls_error_reason("unreadable"));
        return -EINVAL;
    }
    p->chain = sk_X509_new_null();
    if (p->chain == NULL) {
        fclose(f);
        pair_free(p);
        tls_error(err, c->file, c->line, "%s: out of memory", what);
        return -ENOMEM;
    }
    X509 *extra;
    while ((extra = PEM_read_X509(f, NULL, no_password, NULL)) != NULL)
        if (sk_X509_push(p->chain, extra) == 0) {
            X509_free(extra);
            fclose(f);
            pair_free(p);
            tls_error(err, c->file, c->line, "%s: out of memory", what);
            return -ENOMEM;
        }
    unsigned long e = ERR_peek_last_error();
    fclose(f);
    if (e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
        pair_free(p);
        tls_error(err, c->file, c->line,
                  "%s: a chain certificate in %s is unreadable (%s)", what,
                  c->cert, dp_tls_error_reason("bad PEM"));
        return -EINVAL;
    }
    ERR_clear_error();

    f = fopen(c->key, "r");
    if (f == NULL) {
        int en = errno;
        pair_free(p);
        tls_error(err, c->file, c->line, "%s: cannot open private key %s: %s",
                  what, c->key, strerror(en));
        return -EINVAL;
    }
    p->key = PEM_read_PrivateKey(f, NULL, no_password, NULL);
    fclose(f);
    if (p->key == NULL) {
        pair_free(p);
        tls_error(err, c->file, c->line,
                  "%s: %s holds no usable PEM private key (%s; encrypted "
                  "keys are not supported)",
                  what, c->key, dp_tls_error_reason("unreadable"));
        return -EINVAL;
    }
    if (X509_check_private_key(p->cert, p->key) != 1) {
        ERR_clear_error();
        pair_free(p);
        tls_error(err, c->file, c->line,
                  "%s: private key %s does not match certificate %s", what,
                  c->key, c->cert);
        return -EINVAL;
    }
    return 0;
}

/* Append a DNS name of certificate `index` to the server's table. */
static int
names_add(struct dp_tls_server *s, const char *name, size_t len,
          unsigned index)
{
    if (memchr(name, '\0', len) != NULL)
        return 0;       /* an embedded NUL: never a usable name */
    char *copy = strndup(name, len);
    if (copy == NULL)
        return -ENOMEM;
    if (!dp_tls_name_valid(copy)) {
        free(copy);
        return 0;
    }
    struct dp_tls_name *grown =
        realloc(s->names, (s->n_names + 1) * sizeof(*s->names));
    if (grown == NULL) {
        free(copy);
        return -ENOMEM;
    }
    s->names = grown;
    s->names[s->n_names].name = copy;
    s->names[s->n_names].index = index;
    s->n_names++;
    return 0;
}

/* The subjectAltName DNS names of a certificate, or its subject CN when it
 * has none (RFC 6125 §6.4.4).  The number added, or -ENOMEM. */
static int
names_collect(struct dp_tls_server *s, X509 *cert, unsigned index)
{
    size_t before = s->n_names;
    bool has_dns = false;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL,
                                           NULL);
    if (sans != NULL) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
            if (g->type != GEN_DNS)
                continue;
            has_dns = true;
            const ASN1_STRING *str = g->d.dNSName;
            if (names_add(s, (const char *)ASN1_STRING_get0_data(str),
                          (size_t)ASN1_STRING_length(str), index) != 0) {
                GENERAL_NAMES_free(sans);
                return -ENOMEM;
            }
        }
        GENERAL_NAMES_free(sans);
    }
    if (!has_dns) {
        const X509_NAME *subject = X509_get_subject_name(cert);
        int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        if (i >= 0) {
            const ASN1_STRING *str = X509_NAME_ENTRY_get_data(
                X509_NAME_get_entry(subject, i));
            if (names_add(s, (const char *)ASN1_STRING_get0_data(str),
                          (size_t)ASN1_STRING_length(str), index) != 0)
                return -ENOMEM;
        }
    }
    return (int)(s->n_names - before);
}

/* SNI: switch to the matching certificate (the context's default is
 * pairs[0]). */
static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
    (void)alert;
    const struct dp_tls_server *s = arg;
    const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    int i = dp_tls_name_select(s->names, s->n_names, host);
    if (i > 0) {
        const struct cert_pair *p = &s->pairs[i];
        if (SSL_use_cert_and_key(ssl, p->cert, p->key, p->chain, 1) != 1)
            return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: http/1.1 only (h2 later).  A client that offers neither gets no
 * ALPN answer and speaks HTTP/1.1 as it would without ALPN. */
static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
        const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char protos[] = "\x08http/1.1";
    unsigned char *selected = NULL;
    unsigned char len = 0;
    if (SSL_select_next_proto(&selected, &len, protos, sizeof(protos) - 1,
                              in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    *outlen = len;
    return SSL_TLSEXT_ERR_OK;
}

void
dp_tls_server_free(struct dp_tls_server *s)
{
    if (s == NULL)
        return;
    SSL_CTX_free(s->ctx);
    for (size_t i = 0; i < s->n_pairs; i++)
        pair_free(&s->pairs[i]);
    free(s->pairs);
    for (size_t i = 0; i < s->n_names; i++)
        free((char *)(uintptr_t)s->names[i].name);
    free(s->names);
    free(s);
}

static struct dp_tls_server *
server_fail(struct dp_tls_server *s, struct dp_config_error *err,
            const char *file, unsigned line, const char *what)
{
    tls_error(err, file, line, "%s: %s", what,
              dp_tls_error_reason("OpenSSL refused it"));
    dp_tls_server_free(s);
    return NULL;
}

struct dp_tls_server *
dp_tls_server_new(const struct dp_config_listener *l,
                  struct dp_config_error *err)
{
    const char *file = l->file;
    unsigned line = l->line;
    struct dp_tls_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        tls_error(err, file, line, "out of memory");
        return NULL;
    }
    s->sts = l->sts;
    s->redirect_http = l->redirect_http;
    if (l->n_ssl_certs == 0) {
        dp_tls_server_free(s);
        tls_error(err, file, line, "listener has 'ssl yes' but no 'ssl_cert'");
        return NULL;
    }
    s->pairs = calloc(l->n_ssl_certs, sizeof(*s->pairs));
    if (s->pairs == NULL) {
        dp_tls_server_free(s);
        tls_error(err, file, line, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < l->n_ssl_certs; i++) {
        const struct dp_config_cert *c = &l->ssl_certs[i];
        if (pair_load(&s->pairs[i], c, "ssl_cert", err) != 0) {
            dp_tls_server_free(s);
            return NULL;
        }
        s->n_pairs++;
        int n = names_collect(s, s->pairs[i].cert, (unsigned)i);
        if (n < 0) {
            dp_tls_server_free(s);
            tls_error(err, c->file, c->line, "out of memory");
            return NULL;
        }
        if (n == 0 && i > 0) {
            /* Only the first pair answers without a name; a later one
             * without names would never be chosen. */
            dp_tls_server_free(s);
            tls_error(err, c->file, c->line,
                      "ssl_cert: certificate %s has no DNS name "
                      "(subjectAltName or CN) that SNI could choose it by",
                      c->cert);
            return NULL;
        }
    }

    ERR_clear_error();
    SSL_CTX *ctx = s->ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return server_fail(s, err, file, line, "cannot create a TLS context");
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1)
        return server_fail(s, err, file, line,
                           "cannot set the TLS versions and ciphers");
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_PRIORITIZE_CHACHA);
    /* No SSL_MODE_RELEASE_BUFFERS: it frees and reallocates the read
     * and the write buffer around every record.  A busy connection keeps
     * them; dp_http gives them back with dp_tls_release_buffers() once
     * the connection has been idle for a moment. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* One recv() per record instead of one for its header and one for
     * the rest (dp_http asks SSL_has_pending() before it waits). */
    SSL_CTX_set_read_ahead(ctx, 1);
    /* Session resumption: a cache per worker, and tickets whose keys
     * (made by SSL_CTX_new) every worker inherits. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, SESSION_CACHE_SIZE);
    SSL_CTX_set_timeout(ctx, SESSION_TIMEOUT_S);
    unsigned char sid[EVP_MAX_MD_SIZE];
    unsigned sid_len = 0;
    if (EVP_Digest(l->bind.text, strlen(l->bind.text), sid, &sid_len,
                   EVP_sha256(), NULL) != 1 ||
        SSL_CTX_set_session_id_context(
            ctx, sid,
            sid_len < SSL_MAX_SID_CTX_LENGTH ? sid_len
                                             : SSL_MAX_SID_CTX_LENGTH) != 1)
        return server_fail(s, err, file, line,
                           "cannot set the session id context");
    const struct cert_pair *p = &s->pairs[0];
    if (SSL_CTX_use_cert_and_key(ctx, p->cert, p->key, p->chain, 1) != 1)
        return server_fail(s, err, l->ssl_certs[0].file,
                           l->ssl_certs[0].line,
                           "ssl_cert: OpenSSL refused the certificate");
    SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, s);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);

    if (l->ssl_verify != DP_CONFIG_SSL_VERIFY_NO) {
        const char *ca = l->ssl_ca_cert;
        const char *ca_file = l->ssl_ca_cert_file != NULL
                                  ? l->ssl_ca_cert_file : file;
        unsigned ca_line = l->ssl_ca_cert_line;
        FILE *f = ca != NULL ? fopen(ca, "r") : NULL;
        if (f == NULL) {
            tls_error(err, ca_file, ca_line,
                      "ssl_ca_cert: cannot open %s: %s",
                      ca != NULL ? ca : "(none)", strerror(errno));
            dp_tls_server_free(s);
            return NULL;
        }
        fclose(f);
        ERR_clear_error();
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            tls_error(err, ca_file, ca_line,
                      "ssl_ca_cert: %s holds no usable PEM CA certificate "
                      "(%s)",
                      ca, dp_tls_error_reason("unreadable"));
            dp_tls_server_free(s);
            return NULL;
        }
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (names == NULL) {
            tls_error(err, ca_file, ca_line,
                      "ssl_ca_cert: no CA names in %s (%s)", ca,
                      dp_tls_error_reason("unreadable"));
            dp_tls_server_free(s);
            return NULL;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        int mode = SSL_VERIFY_PEER;
        if (l->ssl_verify == DP_CONFIG_SSL_VERIFY_YES)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
    }
    return s;
}

SSL_CTX *
dp_tls_server_ctx(const struct dp_tls_server *s)
{
    return s->ctx;
}

bool
dp_tls_server_sts(const struct dp_tls_server *s)
{
    return s->sts;
}

bool
dp_tls_server_redirect_http(const struct dp_tls_server *s)
{
    return s->redirect_http;
}

size_t
dp_tls_server_cert_count(const struct dp_tls_server *s)
{
    return s->n_pairs;
}

bool
dp_tls_release_buffers(SSL *ssl)
{
    /* OpenSSL refuses while a record is partly read or written, or read
     * ahead; the next SSL_read() or SSL_write() allocates them again. */
    return SSL_free_buffers(ssl) == 1;
}

/* ---- ssl_client ---- */

void
dp_tls_client_free(struct dp_tls_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        struct cert_pair p = {c->certs[i].cert, c->certs[i].key,
                              c->certs[i].chain};
        pair_free(&p);
    }
    free(c->certs);
    free(c);
}

struct dp_tls_client *
dp_tls_client_new(const struct dp_config *cfg, struct dp_config_error *err)
{
    struct dp_tls_client *c = calloc(1, sizeof(*c));
    if (c == NULL ||
        (cfg->n_ssl_client_certs > 0 &&
         (c->certs = calloc(cfg->n_ssl_client_certs, sizeof(*c->certs))) ==
             NULL)) {
        free(c);
        tls_error(err, NULL, 0, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_ssl_client_certs; i++) {
        const struct dp_config_cert *cc = &cfg->ssl_client_certs[i];
        struct cert_pair p;
        if (pair_load(&p, cc, "ssl_client cert", err) != 0) {
            dp_tls_client_free(c);
            return NULL;
        }
        struct dp_tls_client_cert *out = &c->certs[c->n++];
        out->name = cc->name;   /* the configuration's arena */
        out->cert = p.cert;
        out->key = p.key;
        out->chain = p.chain;
    }
    return c;
}

size_t
dp_tls_client_count(const struct dp_tls_client *c)
{
    return c->n;
}

const struct dp_tls_client_cert *
dp_tls_client_find(const struct dp_tls_client *c, const char *name)
{
    if (c == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < c->n; i++)
        if (c->certs[i].name != NULL && strcmp(c->certs[i].name, name) == 0)
            return &c->certs[i];
    return NULL;
}

/* ---- the set of a configuration ---- */

void
dp_tls_set_free(struct dp_tls_set *set)
{
    for (size_t i = 0; i < set->n_servers; i++)
        dp_tls_server_free(set->servers[i]);
    free(set->servers);
    dp_tls_client_free(set->client);
    memset(set, 0, sizeof(*set));
}

int
dp_tls_set_load(const struct dp_config *cfg, struct dp_tls_set *set,
                struct dp_config_error *err)
{
    memset(set, 0, sizeof(*set));
    set->servers = calloc(cfg->n_listeners + 1, sizeof(*set->servers));
    if (set->servers == NULL) {
        tls_error(err, NULL, 0, "out of memory");
        return -ENOMEM;
    }
    set->n_servers = cfg->n_listeners;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        if (!cfg->listeners[i].ssl)
            continue;
        set->servers[i] = dp_tls_server_new(&cfg->listeners[i], err);
        if (set->servers[i] == NULL) {
            dp_tls_set_free(set);
            return -EINVAL;
        }
    }
    set->client = dp_tls_client_new(cfg, err);
    if (set->client == NULL) {
        dp_tls_set_free(set);
        return -EINVAL;
    }
    return 0;
}

/* ---- the client of a connection ---- */

static char *
name_text(const X509_NAME *name)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return NULL;
    char *out = NULL;
    if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        if (len >= 0)
            out = strndup(data, (size_t)len);
    }
    BIO_free(bio);
    return out;
}

int
dp_tls_peer_names(SSL *ssl, char **subject, char **issuer)
{
    *subject = NULL;
    *issuer = NULL;
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (peer == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
        return 0;
    *subject = name_text(X509_get_subject_name(peer));
    *issuer = name_text(X509_get_issuer_name(peer));
    if (*subject == NULL || *issuer == NULL) {
        free(*subject);
        free(*issuer);
        *subject = *issuer = NULL;
        return -ENOMEM;
    }
    return 0;
}
