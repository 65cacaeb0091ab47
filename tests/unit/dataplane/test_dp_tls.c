/* Unit tests: dp_tls (server contexts, ssl_client, client names).
 * Certificates are made here with the OpenSSL API into a temporary
 * directory; handshakes run in memory over a BIO pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static X509 *ca_cert;
static EVP_PKEY *ca_key;
static long serial = 1;

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A certificate for `key` with subject O=o (optional), CN=cn (optional)
 * and SAN `san` (optional), signed by the CA (or itself when is_ca). */
static X509 *
make_cert(EVP_PKEY *key, const char *o, const char *cn, const char *san,
          bool is_ca)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    if (o != NULL)
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                   (const unsigned char *)o, -1, -1, 0);
    if (cn != NULL)
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *)cn, -1, -1, 0);
    X509 *issuer = is_ca ? x : ca_cert;
    X509_set_issuer_name(x, X509_get_subject_name(issuer));
    if (is_ca) {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (san != NULL)
        add_ext(x, issuer, NID_subject_alt_name, san);
    assert_true(X509_sign(x, is_ca ? key : ca_key, EVP_sha256()) > 0);
    return x;
}

static void
write_pem(const char *name, X509 *x, EVP_PKEY *key)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (x != NULL)
        assert_int_equal(PEM_write_X509(f, x), 1);
    if (key != NULL)
        assert_int_equal(
            PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

/* name.pem and name.key */
static void
make_pair(const char *name, const char *o, const char *cn, const char *san)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = make_cert(key, o, cn, san, false);
    char file[64];
    snprintf(file, sizeof(file), "%s.pem", name);
    write_pem(file, x, NULL);
    snprintf(file, sizeof(file), "%s.key", name);
    write_pem(file, NULL, key);
    X509_free(x);
    EVP_PKEY_free(key);
}

static const char *
path(const char *name)
{
    static char buf[8][128];
    static unsigned next;
    char *p = buf[next++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static int
setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/portier-test-tls-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    ca_key = EVP_EC_gen("P-256");
    ca_cert = make_cert(ca_key, NULL, "Test CA", NULL, true);
    write_pem("ca.pem", ca_cert, NULL);
    make_pair("a", NULL, "a.test", "DNS:a.test");
    make_pair("wild", NULL, "wildcard", "DNS:*.w.test,DNS:other.test");
    make_pair("cn", NULL, "cn.test", NULL);
    make_pair("noname", "No Name", NULL, NULL);
    make_pair("alice", "Portier Test", "alice", NULL);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    static const char *const files[] = {
        "ca.pem", "a.pem", "a.key", "wild.pem", "wild.key", "cn.pem",
        "cn.key", "noname.pem", "noname.key", "alice.pem", "alice.key",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        unlink(path(files[i]));
    rmdir(dir);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    return 0;
}

/* A listener with the named pairs ("a" -> a.pem, a.key). */
static struct dp_config_listener
listener(struct dp_config_cert *certs, const char *const *names, size_t n)
{
    struct dp_config_listener l;
    memset(&l, 0, sizeof(l));
    l.bind.text = "127.0.0.1:443";
    l.ssl = true;
    l.file = "t.conf";
    l.line = 1;
    static char store[16][128];
    for (size_t i = 0; i < n; i++) {
        snprintf(store[2 * i], 128, "%s/%s.pem", dir, names[i]);
        snprintf(store[2 * i + 1], 128, "%s/%s.key", dir, names[i]);
        certs[i].cert = store[2 * i];
        certs[i].key = store[2 * i + 1];
        certs[i].name = NULL;
        certs[i].file = "t.conf";
        certs[i].line = (unsigned)(2 + i);
    }
    l.ssl_certs = certs;
    l.n_ssl_certs = n;
    return l;
}

static void
expect_server_error(struct dp_config_listener *l, const char *expected)
{
    struct dp_config_error err;
    struct dp_tls_server *s = dp_tls_server_new(l, &err);
    if (s != NULL || strcmp(err.text, expected) != 0)
        print_error("expected: %s\ngot: %s\n", expected,
                    s != NULL ? "(success)" : err.text);
    assert_null(s);
    assert_string_equal(err.text, expected);
}

static void
test_server_errors(void **state)
{
    (void)state;
    struct dp_config_cert certs[4];
    char want[600];

    const char *const missing[] = {"a", "missing"};
    struct dp_config_listener l = listener(certs, missing, 2);
    snprintf(want, sizeof(want),
             "t.conf:3: ssl_cert: cannot open certificate %s/missing.pem: "
             "No such file or directory", dir);
    expect_server_error(&l, want);

    const char *const ok[] = {"a"};
    l = listener(certs, ok, 1);
    certs[0].key = path("wild.key");
    snprintf(want, sizeof(want),
             "t.conf:2: ssl_cert: private key %s/wild.key does not match "
             "certificate %s/a.pem", dir, dir);
    expect_server_error(&l, want);

    /* a key where the certificate belongs: OpenSSL's reason follows */
    l = listener(certs, ok, 1);
    certs[0].cert = path("a.key");
    struct dp_config_error err;
    assert_null(dp_tls_server_new(&l, &err));
    snprintf(want, sizeof(want),
             "t.conf:2: ssl_cert: %s/a.key holds no PEM certificate (", dir);
    assert_memory_equal(err.text, want, strlen(want));
    assert_string_equal(err.file, "t.conf");
    assert_int_equal(err.line, 2);
}

static void
test_server_errors_more(void **state)
{
    (void)state;
    struct dp_config_cert certs[4];
    char want[600];
    const char *const names[] = {"a", "noname"};
    struct dp_config_listener l = listener(certs, names, 2);
    snprintf(want, sizeof(want),
             "t.conf:3: ssl_cert: certificate %s/noname.pem has no DNS name "
             "(subjectAltName or CN) that SNI could choose it by", dir);
    expect_server_error(&l, want);

    /* the first pair may have no name: it is the default */
    const char *const first[] = {"noname", "a"};
    l = listener(certs, first, 2);
    struct dp_config_error err;
    struct dp_tls_server *s = dp_tls_server_new(&l, &err);
    assert_non_null(s);
    assert_int_equal(dp_tls_server_cert_count(s), 2);
    dp_tls_server_free(s);

    const char *const ok[] = {"a"};
    l = listener(certs, ok, 1);
    l.ssl_verify = DP_CONFIG_SSL_VERIFY_YES;
    l.ssl_ca_cert = path("nothing.pem");
    l.ssl_ca_cert_file = "other.conf";
    l.ssl_ca_cert_line = 9;
    snprintf(want, sizeof(want),
             "other.conf:9: ssl_ca_cert: cannot open %s/nothing.pem: No "
             "such file or directory", dir);
    expect_server_error(&l, want);
}

/* ---- in-memory handshakes ---- */

struct pair {
    SSL *client, *server;
};

static int
handshake(struct pair *p, struct dp_tls_server *s, const char *sni,
          const char *client_cert)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cctx);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca_cert);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    if (client_cert != NULL) {
        char file[64];
        snprintf(file, sizeof(file), "%s.pem", client_cert);
        assert_int_equal(SSL_CTX_use_certificate_file(cctx, path(file),
                                                      SSL_FILETYPE_PEM), 1);
        snprintf(file, sizeof(file), "%s.key", client_cert);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(cctx, path(file),
                                                     SSL_FILETYPE_PEM), 1);
    }
    p->client = SSL_new(cctx);
    SSL_CTX_free(cctx);
    p->server = SSL_new(dp_tls_server_ctx(s));
    assert_non_null(p->client);
    assert_non_null(p->server);
    static const unsigned char alpn[] = "\x02h2\x08http/1.1";
    SSL_set_alpn_protos(p->client, alpn, sizeof(alpn) - 1);
    if (sni != NULL)
        SSL_set_tlsext_host_name(p->client, (char *)(uintptr_t)sni);
    BIO *b1, *b2;
    assert_int_equal(BIO_new_bio_pair(&b1, 0, &b2, 0), 1);
    SSL_set_bio(p->client, b1, b1);
    SSL_set_bio(p->server, b2, b2);
    SSL_set_connect_state(p->client);
    SSL_set_accept_state(p->server);
    int c = 0, sv = 0;
    for (int i = 0; i < 20 && (c != 1 || sv != 1); i++) {
        if (c != 1)
            c = SSL_do_handshake(p->client);
        if (sv != 1)
            sv = SSL_do_handshake(p->server);
        if ((c <= 0 && SSL_get_error(p->client, c) != SSL_ERROR_WANT_READ) ||
            (sv <= 0 && SSL_get_error(p->server, sv) != SSL_ERROR_WANT_READ))
            break;
    }
    ERR_clear_error();
    return c == 1 && sv == 1 ? 0 : -1;
}

static void
pair_free(struct pair *p)
{
    SSL_free(p->client);
    SSL_free(p->server);
}

static char *
peer_cn(SSL *ssl)
{
    static char cn[64];
    X509 *x = SSL_get0_peer_certificate(ssl);
    assert_non_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                              sizeof(cn));
    return cn;
}

static void
test_sni_and_alpn(void **state)
{
    (void)state;
    struct dp_config_cert certs[4];
    const char *const names[] = {"a", "wild", "cn"};
    struct dp_config_listener l = listener(certs, names, 3);
    struct dp_config_error err;
    struct dp_tls_server *s = dp_tls_server_new(&l, &err);
    if (s == NULL)
        print_error("%s\n", err.text);
    assert_non_null(s);
    static const struct {
        const char *sni, *cn;
    } cases[] = {
        {"a.test", "a.test"},     {"x.w.test", "wildcard"},
        {"other.test", "wildcard"}, {"cn.test", "cn.test"},
        {"nobody.test", "a.test"}, {"w.test", "a.test"},
        {NULL, "a.test"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pair p;
        assert_int_equal(handshake(&p, s, cases[i].sni, NULL), 0);
        assert_string_equal(peer_cn(p.client), cases[i].cn);
        const unsigned char *proto;
        unsigned len;
        SSL_get0_alpn_selected(p.client, &proto, &len);
        assert_int_equal(len, 8);
        assert_memory_equal(proto, "http/1.1", 8);
        assert_true(SSL_version(p.client) >= TLS1_2_VERSION);
        char *subject, *issuer;
        assert_int_equal(dp_tls_peer_names(p.server, &subject, &issuer), 0);
        assert_null(subject);
        assert_null(issuer);
        pair_free(&p);
    }
    dp_tls_server_free(s);
}

static void
test_client_certificates(void **state)
{
    (void)state;
    struct dp_config_cert certs[4];
    const char *const names[] = {"a"};
    struct dp_config_listener l = listener(certs, names, 1);
    l.ssl_verify = DP_CONFIG_SSL_VERIFY_YES;
    l.ssl_ca_cert = path("ca.pem");
    struct dp_config_error err;
    struct dp_tls_server *s = dp_tls_server_new(&l, &err);
    assert_non_null(s);
    struct pair p;
    assert_int_equal(handshake(&p, s, "a.test", "alice"), 0);
    char *subject, *issuer;
    assert_int_equal(dp_tls_peer_names(p.server, &subject, &issuer), 0);
    assert_non_null(subject);
    assert_string_equal(subject, "CN=alice,O=Portier Test");
    assert_string_equal(issuer, "CN=Test CA");
    free(subject);
    free(issuer);
    pair_free(&p);
    /* required: without a certificate the handshake fails */
    assert_int_equal(handshake(&p, s, "a.test", NULL), -1);
    pair_free(&p);
    dp_tls_server_free(s);

    /* optional: both work; a self-made certificate does not */
    l.ssl_verify = DP_CONFIG_SSL_VERIFY_OPTIONAL;
    s = dp_tls_server_new(&l, &err);
    assert_non_null(s);
    assert_int_equal(handshake(&p, s, "a.test", NULL), 0);
    assert_int_equal(dp_tls_peer_names(p.server, &subject, &issuer), 0);
    assert_null(subject);
    pair_free(&p);
    assert_int_equal(handshake(&p, s, "a.test", "alice"), 0);
    assert_int_equal(dp_tls_peer_names(p.server, &subject, &issuer), 0);
    assert_string_equal(subject, "CN=alice,O=Portier Test");
    free(subject);
    free(issuer);
    pair_free(&p);
    dp_tls_server_free(s);
}

static void
test_ssl_client(void **state)
{
    (void)state;
    struct dp_config cfg;
    dp_config_init(&cfg);
    struct dp_config_cert certs[2] = {
        {path("a.pem"), path("a.key"), NULL, "t.conf", 2},
        {path("alice.pem"), path("alice.key"), "thename", "t.conf", 3},
    };
    cfg.ssl_client_certs = certs;
    cfg.n_ssl_client_certs = 2;
    struct dp_config_error err;
    struct dp_tls_client *c = dp_tls_client_new(&cfg, &err);
    assert_non_null(c);
    assert_int_equal(dp_tls_client_count(c), 2);
    const struct dp_tls_client_cert *found = dp_tls_client_find(c, "thename");
    assert_non_null(found);
    assert_string_equal(found->name, "thename");
    char cn[64];
    X509_NAME_get_text_by_NID(X509_get_subject_name(found->cert),
                              NID_commonName, cn, sizeof(cn));
    assert_string_equal(cn, "alice");
    assert_int_equal(X509_check_private_key(found->cert, found->key), 1);
    assert_null(dp_tls_client_find(c, "other"));
    assert_null(dp_tls_client_find(c, NULL));
    dp_tls_client_free(c);

    certs[1].key = path("a.key");
    char want[600];
    snprintf(want, sizeof(want),
             "t.conf:3: ssl_client cert: private key %s/a.key does not "
             "match certificate %s/alice.pem", dir, dir);
    assert_null(dp_tls_client_new(&cfg, &err));
    assert_string_equal(err.text, want);

    /* no certificates: an empty object */
    cfg.n_ssl_client_certs = 0;
    c = dp_tls_client_new(&cfg, &err);
    assert_non_null(c);
    assert_int_equal(dp_tls_client_count(c), 0);
    assert_null(dp_tls_client_find(c, "thename"));
    dp_tls_client_free(c);
    cfg.ssl_client_certs = NULL;
    dp_config_free(&cfg);
}

/* ---- the record buffers ----
 *
 * OpenSSL's allocations are counted (CRYPTO_set_mem_functions, before
 * anything else in main): those of at least BIG bytes are the record
 * buffers. */

#define BIG (16 * 1024)

static size_t mem_big_allocs;     /* allocations of BIG bytes or more */
static size_t mem_outstanding;    /* bytes allocated and not freed */

struct mem_head {
    size_t len;
    size_t pad;                   /* keeps the payload 16-byte aligned */
};

static void *
mem_malloc(size_t len, const char *file, int line)
{
    (void)file;
    (void)line;
    struct mem_head *h = malloc(sizeof(*h) + len);
    if (h == NULL)
        return NULL;
    h->len = len;
    mem_outstanding += len;
    if (len >= BIG)
        mem_big_allocs++;
    return h + 1;
}

static void
mem_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    if (p == NULL)
        return;
    struct mem_head *h = (struct mem_head *)p - 1;
    mem_outstanding -= h->len;
    free(h);
}

static void *
mem_realloc(void *p, size_t len, const char *file, int line)
{
    if (p == NULL)
        return mem_malloc(len, file, line);
    struct mem_head *h = (struct mem_head *)p - 1;
    size_t old = h->len;
    struct mem_head *n = realloc(h, sizeof(*n) + len);
    if (n == NULL)
        return NULL;
    n->len = len;
    mem_outstanding = mem_outstanding - old + len;
    if (len >= BIG && old < BIG)
        mem_big_allocs++;
    return n + 1;
}

/* The client sends a small request, the server answers with `len`
 * bytes (one record), the client reads them. */
static void
exchange(struct pair *p, size_t len)
{
    static const char req[] = "GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n";
    static char out[2048], in[2048];
    memset(out, 'x', sizeof(out));
    assert_true(len <= sizeof(out));
    assert_int_equal(SSL_write(p->client, req, sizeof(req) - 1),
                     (int)sizeof(req) - 1);
    assert_int_equal(SSL_read(p->server, in, sizeof(in)),
                     (int)sizeof(req) - 1);
    assert_int_equal(SSL_write(p->server, out, (int)len), (int)len);
    size_t got = 0;
    while (got < len) {
        int n = SSL_read(p->client, in, sizeof(in));
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_int_equal(got, len);
}

static void
test_record_buffers(void **state)
{
    (void)state;
    struct dp_config_cert certs[4];
    const char *const names[] = {"a"};
    struct dp_config_listener l = listener(certs, names, 1);
    struct dp_config_error err;
    struct dp_tls_server *s = dp_tls_server_new(&l, &err);
    assert_non_null(s);
    struct pair p;
    assert_int_equal(handshake(&p, s, "a.test", NULL), 0);
    exchange(&p, 1200);

    /* a busy connection keeps its buffers: no allocation per record */
    size_t big = mem_big_allocs;
    for (int i = 0; i < 5; i++)
        exchange(&p, 1200);
    assert_int_equal(mem_big_allocs, big);

    /* released between records: both buffers go */
    size_t before = mem_outstanding;
    assert_true(dp_tls_release_buffers(p.server));
    assert_true(before - mem_outstanding >= 2 * BIG);
    assert_true(dp_tls_release_buffers(p.server));  /* nothing left */

    /* and come back for the next record */
    exchange(&p, 1200);
    assert_true(mem_big_allocs >= big + 2);

    /* refused while decrypted bytes wait in the read buffer */
    static const char msg[100] = "partly read";
    char buf[100];
    assert_int_equal(SSL_write(p.client, msg, sizeof(msg)), sizeof(msg));
    assert_int_equal(SSL_read(p.server, buf, 10), 10);
    assert_false(dp_tls_release_buffers(p.server));
    assert_int_equal(SSL_read(p.server, buf + 10, sizeof(buf) - 10),
                     sizeof(buf) - 10);
    assert_memory_equal(buf, msg, sizeof(msg));
    assert_true(dp_tls_release_buffers(p.server));
    exchange(&p, 1200);
    pair_free(&p);
    dp_tls_server_free(s);
}

int
main(void)
{
    /* before OpenSSL allocates anything */
    if (CRYPTO_set_mem_functions(mem_malloc, mem_realloc, mem_free) != 1) {
        fprintf(stderr, "CRYPTO_set_mem_functions refused\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_server_errors_more),
        cmocka_unit_test(test_sni_and_alpn),
        cmocka_unit_test(test_client_certificates),
        cmocka_unit_test(test_ssl_client),
        cmocka_unit_test(test_record_buffers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
