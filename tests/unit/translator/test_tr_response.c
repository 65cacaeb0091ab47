/* Unit tests for translator/tr_response: the response builder.
 *
 * One test per typed call: the packets it needs before it, then the call,
 * whose bytes are compared with a vector written by hand from the spec
 * (u16 length and the command number of §1.4, little-endian as on
 * x86-64, then the payload), then whatever must follow it, then END.
 * The last vector test checks that every packet tp_response accepts has
 * been covered.  The refusal tests check every refusal of the builder's
 * own and the parser rules as the builder reports them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tr_response.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool covered[TP_CMD_MAX + 1];

static struct tr_response *
begin(const struct tp_request *req)
{
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1)
        skip();     /* the vectors are little-endian */
    struct tr_response *r = tr_response_new_for(req);
    assert_non_null(r);
    return r;
}

static size_t
mark(const struct tr_response *r)
{
    size_t len;
    tr_response_data(r, &len);
    return len;
}

/* The bytes since `from` must be exactly one packet: header by hand. */
static void
expect_packet(const struct tr_response *r, size_t from, unsigned cmd,
              const void *payload, size_t n)
{
    size_t len;
    const uint8_t *d = tr_response_data(r, &len);
    assert_int_equal(len - from, 4 + n);
    const uint8_t hdr[4] = {
        (uint8_t)(n & 0xff), (uint8_t)(n >> 8),
        (uint8_t)(cmd & 0xff), (uint8_t)(cmd >> 8),
    };
    assert_memory_equal(d + from, hdr, 4);
    if (n > 0)
        assert_memory_equal(d + from + 4, payload, n);
}

/* Finish; the response must be BEGIN(3) ... END and parse. */
static void
finish_ok(struct tr_response *r, unsigned cmd)
{
    static const uint8_t begin3[] = { 0x01, 0x00, 0x01, 0x00, 0x03 };
    static const uint8_t end[] = { 0x00, 0x00, 0x02, 0x00 };
    int rc = tr_response_finish(r);
    if (rc != 0)
        fail_msg("finish: %s", tr_response_error(r));
    size_t len;
    const uint8_t *d = tr_response_data(r, &len);
    assert_true(len >= 9);
    assert_memory_equal(d, begin3, 5);
    assert_memory_equal(d + len - 4, end, 4);
    assert_non_null(tr_response_parsed(r));
    assert_string_equal(tr_response_error(r), "");
    tr_response_free(r);
    covered[cmd] = true;
}

#define P(call)                                                            \
    do {                                                                   \
        int rc_ = (call);                                                  \
        if (rc_ != 0)                                                      \
            fail_msg("%s: %s", #call, tr_response_error(r));               \
    } while (0)
#define R0                                                                 \
    struct tr_response *r = begin(NULL);                                   \
    size_t m = 0;                                                          \
    (void)state
#define M m = mark(r)
/* expected packet: command number, payload */
#define ES(cmd, lit) expect_packet(r, m, cmd, lit, sizeof(lit) - 1)
#define EN(cmd) expect_packet(r, m, cmd, NULL, 0)
#define EB(cmd, ...)                                                       \
    do {                                                                   \
        static const uint8_t b_[] = { __VA_ARGS__ };                       \
        expect_packet(r, m, cmd, b_, sizeof(b_));                          \
    } while (0)
#define DONE(cmd) finish_ok(r, cmd)
#define VT(fn) static void t_##fn(void **state)
#define REGEX_PRE                                                          \
    P(tr_response_base(r, "/a/"));                                         \
    P(tr_response_regex(r, "^/a/(.*)$"))

/* ---- the whole response, byte by byte ---- */

VT(begin_end)
{
    (void)state;
    struct tr_response *r = begin(NULL);
    size_t len;
    const uint8_t *d = tr_response_data(r, &len);
    static const uint8_t begin3[] = { 0x01, 0x00, 0x01, 0x00, 0x03 };
    assert_int_equal(len, 5);
    assert_memory_equal(d, begin3, 5);
    assert_int_equal(tr_response_finish(r), 0);
    assert_int_equal(tr_response_finish(r), 0);     /* idempotent */
    static const uint8_t all[] = {
        0x01, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x02, 0x00,
    };
    d = tr_response_data(r, &len);
    assert_int_equal(len, sizeof(all));
    assert_memory_equal(d, all, sizeof(all));
    assert_int_equal(tr_response_parsed(r)->version, 3);
    tr_response_free(r);
    tr_response_free(NULL);
}

VT(full_example)
{
    (void)state;
    struct tr_response *r = begin(NULL);
    P(tr_response_base(r, "/s/"));
    P(tr_response_easy_base(r));
    P(tr_response_path(r, "/w/"));
    P(tr_response_max_age(r, 60));
    assert_int_equal(tr_response_finish(r), 0);
    static const uint8_t all[] = {
        0x01, 0x00, 0x01, 0x00, 0x03,                 /* BEGIN 3 */
        0x03, 0x00, 0x28, 0x00, '/', 's', '/',        /* BASE (40) */
        0x00, 0x00, 0x75, 0x00,                       /* EASY_BASE (117) */
        0x03, 0x00, 0x06, 0x00, '/', 'w', '/',        /* PATH (6) */
        0x04, 0x00, 0x24, 0x00, 0x3c, 0x00, 0x00, 0x00, /* MAX_AGE 60 */
        0x00, 0x00, 0x02, 0x00,                       /* END */
    };
    size_t len;
    const uint8_t *d = tr_response_data(r, &len);
    assert_int_equal(len, sizeof(all));
    assert_memory_equal(d, all, sizeof(all));
    const struct tp_response *p = tr_response_parsed(r);
    assert_string_equal(p->base, "/s/");
    assert_true(p->easy_base);
    assert_int_equal(p->address.type, TP_ADDRESS_LOCAL);
    assert_int_equal(p->max_age, 60);
    tr_response_free(r);
}

/* ---- addresses ---- */

VT(path) { R0; M; P(tr_response_path(r, "/srv/www/index.html"));
           ES(6, "/srv/www/index.html"); DONE(6); }
VT(nfs_server) { R0; M; P(tr_response_nfs_server(r, "nfs1"));
                 ES(95, "nfs1");
                 P(tr_response_nfs_export(r, "/export"));
                 P(tr_response_path(r, "/f")); DONE(95); }
VT(nfs_export) { R0; P(tr_response_nfs_server(r, "nfs1"));
                 M; P(tr_response_nfs_export(r, "/export"));
                 ES(96, "/export"); P(tr_response_path(r, "/f")); DONE(96); }
VT(http) { R0; M; P(tr_response_http(r, "http://localhost:8080/app/"));
           ES(8, "http://localhost:8080/app/");
           P(tr_response_address_string(r, "127.0.0.1:8080")); DONE(8); }
VT(cgi) { R0; M; P(tr_response_cgi(r, "/usr/lib/cgi-bin/x"));
          ES(19, "/usr/lib/cgi-bin/x"); DONE(19); }
VT(fastcgi) { R0; M; P(tr_response_fastcgi(r, "/usr/bin/app"));
              ES(33, "/usr/bin/app"); DONE(33); }
VT(was) { R0; M; P(tr_response_was(r, "/usr/bin/was"));
          ES(66, "/usr/bin/was"); DONE(66); }
VT(lhttp_path) { R0; M; P(tr_response_lhttp_path(r, "/usr/bin/srv"));
                 ES(97, "/usr/bin/srv");
                 P(tr_response_lhttp_uri(r, "/")); DONE(97); }
VT(pipe) { R0; P(tr_response_path(r, "/f")); P(tr_response_filter(r));
           M; P(tr_response_pipe(r, "/usr/bin/tidy"));
           ES(39, "/usr/bin/tidy"); DONE(39); }
VT(filter) { R0; P(tr_response_path(r, "/f")); M; P(tr_response_filter(r));
             EN(10); P(tr_response_pipe(r, "/usr/bin/tidy")); DONE(10); }

VT(address)
{
    R0;
    P(tr_response_http(r, "http://localhost/"));
    struct sockaddr_in in;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = htons(80);
    in.sin_addr.s_addr = htonl(0x7f000001);
    M;
    P(tr_response_address(r, (const struct sockaddr *)&in, sizeof(in)));
    EB(23, 0x02, 0x00, 0x00, 0x50, 0x7f, 0x00, 0x00, 0x01,
       0, 0, 0, 0, 0, 0, 0, 0);
    DONE(23);
}

VT(address_string) { R0; P(tr_response_http(r, "http://localhost/"));
                     M; P(tr_response_address_string(r, "[::1]:8080"));
                     ES(24, "[::1]:8080"); DONE(24); }
VT(sticky) { R0; P(tr_response_http(r, "http://localhost/"));
             P(tr_response_address_string(r, "127.0.0.1"));
             M; P(tr_response_sticky(r)); EN(71); DONE(71); }

/* ---- file modifiers ---- */

VT(content_type) { R0; P(tr_response_path(r, "/f"));
                   M; P(tr_response_content_type(r, "text/html"));
                   ES(7, "text/html"); DONE(7); }
VT(content_type_lookup) { R0; P(tr_response_path(r, "/f"));
                          M; P(tr_response_content_type_lookup(r, "k", 1));
                          ES(121, "k"); DONE(121); }
VT(gzipped) { R0; P(tr_response_path(r, "/f"));
              M; P(tr_response_gzipped(r, "/f.gz")); ES(51, "/f.gz");
              DONE(51); }
VT(auto_gzipped) { R0; P(tr_response_path(r, "/f"));
                   M; P(tr_response_auto_gzipped(r)); EN(140); DONE(140); }
VT(auto_brotli_path) { R0; P(tr_response_path(r, "/f"));
                       M; P(tr_response_auto_brotli_path(r)); EN(230);
                       DONE(230); }
VT(beneath) { R0; P(tr_response_path(r, "/srv/f"));
              M; P(tr_response_beneath(r, "/srv")); ES(253, "/srv");
              DONE(253); }
VT(append_path) { R0; P(tr_response_base(r, "/a/"));
                  P(tr_response_path(r, "/srv/"));
                  M; P(tr_response_append_path(r, "index.html"));
                  ES(281, "index.html"); DONE(281); }
VT(expand_path) { R0; REGEX_PRE; P(tr_response_path(r, "/srv/x"));
                  M; P(tr_response_expand_path(r, "/srv/\\1"));
                  ES(84, "/srv/\\1"); DONE(84); }

/* ---- HTTP ---- */

VT(http2) { R0; P(tr_response_http(r, "http://localhost/"));
            M; P(tr_response_http2(r)); EN(211);
            P(tr_response_address_string(r, "127.0.0.1")); DONE(211); }
VT(certificate) { R0; P(tr_response_http(r, "https://localhost/"));
                  M; P(tr_response_certificate(r, "client-1"));
                  ES(202, "client-1");
                  P(tr_response_address_string(r, "127.0.0.1"));
                  DONE(202); }

/* ---- CGI-like ---- */

#define CGI_PRE P(tr_response_cgi(r, "/cgi/x"))

VT(path_info) { R0; CGI_PRE; M; P(tr_response_path_info(r, "/p"));
                ES(17, "/p"); DONE(17); }
VT(expand_path_info) { R0; REGEX_PRE; CGI_PRE;
                       M; P(tr_response_expand_path_info(r, "/\\1"));
                       ES(83, "/\\1"); DONE(83); }
VT(script_name) { R0; CGI_PRE; M; P(tr_response_script_name(r, "/x"));
                  ES(29, "/x"); DONE(29); }
VT(expand_script_name) { R0; REGEX_PRE; CGI_PRE;
                         M; P(tr_response_expand_script_name(r, "/\\1"));
                         ES(126, "/\\1"); DONE(126); }
VT(document_root) { R0; CGI_PRE; M; P(tr_response_document_root(r, "/d"));
                    ES(20, "/d"); DONE(20); }
VT(expand_document_root) {
    R0; REGEX_PRE; CGI_PRE;
    M; P(tr_response_expand_document_root(r, "/d/\\1"));
    ES(141, "/d/\\1"); DONE(141); }
VT(interpreter) { R0; CGI_PRE;
                  M; P(tr_response_interpreter(r, "/usr/bin/perl"));
                  ES(27, "/usr/bin/perl"); DONE(27); }
VT(action) { R0; CGI_PRE; M; P(tr_response_action(r, "/usr/bin/php"));
             ES(28, "/usr/bin/php"); DONE(28); }
VT(request_uri_verbatim) { R0; CGI_PRE;
                           M; P(tr_response_request_uri_verbatim(r));
                           EN(212); DONE(212); }
VT(auto_base) { R0; CGI_PRE; P(tr_response_path_info(r, "/p"));
                M; P(tr_response_auto_base(r)); EN(87); DONE(87); }

/* ---- arguments and environment ---- */

VT(append) { R0; CGI_PRE; M; P(tr_response_append(r, "-v"));
             ES(45, "-v"); DONE(45); }
VT(expand_append) { R0; REGEX_PRE; CGI_PRE; P(tr_response_append(r, "x"));
                    M; P(tr_response_expand_append(r, "\\1"));
                    ES(105, "\\1"); DONE(105); }
VT(pair) { R0; P(tr_response_fastcgi(r, "/f"));
           M; P(tr_response_pair(r, "A", "b=c")); ES(52, "A=b=c");
           DONE(52); }
VT(expand_pair) { R0; REGEX_PRE; P(tr_response_fastcgi(r, "/f"));
                  P(tr_response_pair(r, "A", "b"));
                  M; P(tr_response_expand_pair(r, "A", "\\1"));
                  ES(106, "A=\\1"); DONE(106); }
VT(setenv) { R0; CGI_PRE; M; P(tr_response_setenv(r, "LANG", "C"));
             ES(134, "LANG=C"); DONE(134); }
VT(expand_setenv) { R0; REGEX_PRE; CGI_PRE;
                    P(tr_response_setenv(r, "X", ""));
                    M; P(tr_response_expand_setenv(r, "X", "\\1"));
                    ES(135, "X=\\1"); DONE(135); }

/* ---- server processes and LHTTP ---- */

VT(concurrency) { R0; P(tr_response_fastcgi(r, "/f"));
                  M; P(tr_response_concurrency(r, 4)); EB(101, 0x04, 0x00);
                  DONE(101); }
VT(parallelism) { R0; P(tr_response_fastcgi(r, "/f"));
                  M; P(tr_response_parallelism(r, 0x102));
                  EB(237, 0x02, 0x01); DONE(237); }
VT(disposable) { R0; P(tr_response_was(r, "/w"));
                 M; P(tr_response_disposable(r)); EN(250); DONE(250); }
VT(instant_fade) { R0; P(tr_response_fastcgi(r, "/f"));
                   M; P(tr_response_instant_fade(r)); EN(283); DONE(283); }
VT(process_name) { R0; CGI_PRE; M; P(tr_response_process_name(r, "x"));
                   ES(286, "x"); DONE(286); }
VT(lhttp_uri) { R0; P(tr_response_lhttp_path(r, "/l"));
                M; P(tr_response_lhttp_uri(r, "/app/")); ES(98, "/app/");
                DONE(98); }
VT(expand_lhttp_uri) { R0; REGEX_PRE; P(tr_response_lhttp_path(r, "/l"));
                       M; P(tr_response_expand_lhttp_uri(r, "/\\1"));
                       ES(99, "/\\1"); DONE(99); }
VT(lhttp_host) { R0; P(tr_response_lhttp_path(r, "/l"));
                 M; P(tr_response_lhttp_host(r, "app.local"));
                 ES(100, "app.local"); P(tr_response_lhttp_uri(r, "/"));
                 DONE(100); }
VT(non_blocking) { R0; P(tr_response_lhttp_path(r, "/l"));
                   M; P(tr_response_non_blocking(r)); EN(151);
                   P(tr_response_lhttp_uri(r, "/")); DONE(151); }

/* ---- child options ---- */

VT(child_tag) { R0; CGI_PRE; M; P(tr_response_child_tag(r, "site1"));
                ES(201, "site1"); DONE(201); }
VT(stderr_path) { R0; CGI_PRE; M; P(tr_response_stderr_path(r, "/log"));
                  ES(131, "/log"); DONE(131); }
VT(expand_stderr_path) { R0; REGEX_PRE; CGI_PRE;
                         M; P(tr_response_expand_stderr_path(r, "/l/\\1"));
                         ES(160, "/l/\\1"); DONE(160); }
VT(stderr_null) { R0; CGI_PRE; M; P(tr_response_stderr_null(r)); EN(184);
                  DONE(184); }
VT(chdir) { R0; CGI_PRE; M; P(tr_response_chdir(r, "/tmp")); ES(242, "/tmp");
            DONE(242); }

VT(uid_gid)
{
    R0;
    CGI_PRE;
    const gid_t groups[] = { 27 };
    M;
    P(tr_response_uid_gid(r, 1000, 1001, groups, 1));
    EB(165, 0xe8, 0x03, 0x00, 0x00, 0xe9, 0x03, 0x00, 0x00,
       0x1b, 0x00, 0x00, 0x00);
    DONE(165);
}

VT(umask) { R0; CGI_PRE; M; P(tr_response_umask(r, 022));
            EB(193, 0x12, 0x00); DONE(193); }
VT(rlimits) { R0; CGI_PRE; M; P(tr_response_rlimits(r, "c!Sn256"));
              ES(114, "c!Sn256"); DONE(114); }
VT(no_new_privs) { R0; CGI_PRE; M; P(tr_response_no_new_privs(r)); EN(176);
                   DONE(176); }
VT(sigkill) { R0; CGI_PRE; M; P(tr_response_sigkill(r)); EN(284);
              DONE(284); }

/* ---- filters ---- */

VT(filter_4xx) { R0; M; P(tr_response_filter_4xx(r)); EN(62); DONE(62); }
VT(filter_no_body) { R0; P(tr_response_path(r, "/f"));
                     P(tr_response_filter(r));
                     M; P(tr_response_filter_no_body(r)); EN(218);
                     P(tr_response_pipe(r, "/p")); DONE(218); }
VT(reveal_user) { R0; P(tr_response_path(r, "/f")); P(tr_response_filter(r));
                  M; P(tr_response_reveal_user(r)); EN(174);
                  P(tr_response_pipe(r, "/p")); DONE(174); }
VT(transparent) { R0; M; P(tr_response_transparent(r)); EN(70); DONE(70); }
VT(cache_tag) { R0; M; P(tr_response_cache_tag(r, "t1")); ES(208, "t1");
                DONE(208); }

/* ---- generated responses ---- */

VT(status) { R0; M; P(tr_response_status(r, 404)); EB(5, 0x94, 0x01);
             DONE(5); }
VT(redirect) { R0; M; P(tr_response_redirect(r, "https://e.com/"));
               ES(9, "https://e.com/"); DONE(9); }
VT(expand_redirect) { R0; REGEX_PRE; P(tr_response_redirect(r, "https://e/"));
                      M; P(tr_response_expand_redirect(r, "https://e/\\1"));
                      ES(125, "https://e/\\1"); DONE(125); }
VT(redirect_query_string) { R0; P(tr_response_redirect(r, "/x"));
                            M; P(tr_response_redirect_query_string(r));
                            EN(129); DONE(129); }
VT(redirect_full_uri) { R0; P(tr_response_base(r, "/a/"));
                        P(tr_response_easy_base(r));
                        P(tr_response_redirect(r, "https://e/a/"));
                        M; P(tr_response_redirect_full_uri(r)); EN(195);
                        DONE(195); }
VT(bounce) { R0; M; P(tr_response_bounce(r, "https://login/?u="));
             ES(54, "https://login/?u="); DONE(54); }
VT(message) { R0; M; P(tr_response_message(r, "Hello, world!\n"));
              ES(188, "Hello, world!\n"); DONE(188); }
VT(tiny_image) { R0; M; P(tr_response_tiny_image(r)); EN(223); DONE(223); }

/* ---- access ---- */

VT(https_only)
{
    R0;
    M;
    P(tr_response_https_only(r, 8443));
    EB(197, 0xfb, 0x20);
    DONE(197);
    r = begin(NULL);
    M;
    P(tr_response_https_only(r, 0));   /* 443: an empty packet */
    EN(197);
    DONE(197);
}

VT(allow_remote_network)
{
    R0;
    struct sockaddr_in in;
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_addr.s_addr = htonl(0x0a000000);
    M;
    P(tr_response_allow_remote_network(r, (const struct sockaddr *)&in,
                                       sizeof(in), 8));
    EB(263, 0x08, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00,
       0, 0, 0, 0, 0, 0, 0, 0);
    DONE(263);
}

VT(no_query_string) { R0; M; P(tr_response_no_query_string(r)); EN(282);
                      DONE(282); }
VT(discard_query_string) { R0; M; P(tr_response_discard_query_string(r));
                           EN(251); DONE(251); }
VT(rate_limit_site_requests) {
    R0; P(tr_response_site(r, "s"));
    M; P(tr_response_rate_limit_site_requests(r, 10.0f, 20.0f));
    EB(264, 0x00, 0x00, 0x20, 0x41, 0x00, 0x00, 0xa0, 0x41); DONE(264); }
VT(rate_limit_site_traffic) {
    R0; P(tr_response_site(r, "s"));
    M; P(tr_response_rate_limit_site_traffic(r, 1.0f, 2.0f));
    EB(273, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40); DONE(273); }

/* ---- headers ---- */

VT(header) { R0; M; P(tr_response_header(r, "X-Frame-Options", "DENY"));
             ES(59, "X-Frame-Options:DENY"); DONE(59); }
VT(expand_header) { R0; REGEX_PRE;
                    M; P(tr_response_expand_header(r, "x-a", "\\1"));
                    ES(154, "x-a:\\1"); DONE(154); }
VT(request_header) { R0; M; P(tr_response_request_header(r, "x-b", "1"));
                     ES(138, "x-b:1"); DONE(138); }
VT(expand_request_header) {
    R0; REGEX_PRE;
    M; P(tr_response_expand_request_header(r, "x-c", "\\1"));
    ES(139, "x-c:\\1"); DONE(139); }

VT(request_header_forward)
{
    R0;
    const struct tr_header_forward v[] = {
        { TP_HG_COOKIE, TP_HF_YES },
        { TR_HEADER_GROUP_ALL, TP_HF_MANGLE },
    };
    M;
    P(tr_response_request_header_forward(r, v, 2));
    EB(48, 0x02, 0x00, 0x01, 0x00, 0xff, 0xff, 0x02, 0x00);
    DONE(48);
}

VT(response_header_forward)
{
    R0;
    const struct tr_header_forward v[] = { { TP_HG_AUTH, TP_HF_NO } };
    M;
    P(tr_response_response_header_forward(r, v, 1));
    EB(49, 0x0a, 0x00, 0x00, 0x00);
    DONE(49);
}

VT(www_authenticate) { R0; M;
                       P(tr_response_www_authenticate(r, "Basic realm=x"));
                       ES(56, "Basic realm=x"); DONE(56); }
VT(authentication_info) { R0; M;
                          P(tr_response_authentication_info(r, "a=b"));
                          ES(57, "a=b"); DONE(57); }

/* ---- metadata ---- */

VT(scheme) { R0; M; P(tr_response_scheme(r, "https")); ES(47, "https");
             DONE(47); }
VT(host) { R0; M; P(tr_response_host(r, "example.com"));
           ES(3, "example.com"); DONE(3); }
VT(site) { R0; M; P(tr_response_site(r, "site1")); ES(18, "site1");
           DONE(18); }
VT(expand_site) { R0; REGEX_PRE; P(tr_response_site(r, "s"));
                  M; P(tr_response_expand_site(r, "s\\1")); ES(137, "s\\1");
                  DONE(137); }
VT(uri) { R0; M; P(tr_response_uri(r, "/x")); ES(4, "/x"); DONE(4); }
VT(expand_uri) { R0; REGEX_PRE; M; P(tr_response_expand_uri(r, "/\\1"));
                 ES(136, "/\\1"); DONE(136); }
VT(generator) { R0; M; P(tr_response_generator(r, "portier"));
                ES(259, "portier"); DONE(259); }
VT(analytics_id) { R0; M; P(tr_response_analytics_id(r, "a1"));
                   ES(258, "a1"); DONE(258); }
VT(stats_tag) { R0; M; P(tr_response_stats_tag(r, "st")); ES(232, "st");
                DONE(232); }
VT(listener_tag) { R0; M; P(tr_response_listener_tag(r, "l1"));
                   ES(148, "l1"); DONE(148); }
VT(expires_relative) { R0; M; P(tr_response_expires_relative(r, 3600));
                       EB(124, 0x10, 0x0e, 0x00, 0x00); DONE(124); }
VT(expires_relative_with_query) {
    R0; M; P(tr_response_expires_relative_with_query(r, 0x01020304));
    EB(238, 0x04, 0x03, 0x02, 0x01); DONE(238); }
VT(defer) { R0; M; P(tr_response_defer(r)); EN(213); DONE(213); }

/* ---- translation cache ---- */

VT(max_age) { R0; M; P(tr_response_max_age(r, 300));
              EB(36, 0x2c, 0x01, 0x00, 0x00); DONE(36); }

VT(vary)
{
    R0;
    const uint16_t v[] = { TP_CMD_HOST, TP_CMD_URI };
    M;
    P(tr_response_vary(r, v, 2));
    EB(37, 0x03, 0x00, 0x04, 0x00);
    DONE(37);
}

VT(invalidate)
{
    R0;
    const uint16_t v[] = { TP_CMD_SESSION };
    M;
    P(tr_response_invalidate(r, v, 1));
    EB(42, 0x0c, 0x00);
    DONE(42);
}

VT(base) { R0; M; P(tr_response_base(r, "/a/")); ES(40, "/a/"); DONE(40); }
VT(easy_base) { R0; P(tr_response_base(r, "/a/"));
                M; P(tr_response_easy_base(r)); EN(117); DONE(117); }
VT(unsafe_base) { R0; P(tr_response_base(r, "/a/"));
                  M; P(tr_response_unsafe_base(r)); EN(116); DONE(116); }
VT(regex) { R0; P(tr_response_base(r, "/a/"));
            M; P(tr_response_regex(r, "^/a/x")); ES(79, "^/a/x"); DONE(79); }
VT(inverse_regex) { R0; P(tr_response_base(r, "/a/"));
                    M; P(tr_response_inverse_regex(r, "\\.php$"));
                    ES(80, "\\.php$"); DONE(80); }
VT(regex_tail) { R0; REGEX_PRE; M; P(tr_response_regex_tail(r)); EN(118);
                 DONE(118); }
VT(regex_unescape) { R0; REGEX_PRE; M; P(tr_response_regex_unescape(r));
                     EN(119); DONE(119); }
VT(inverse_regex_unescape) {
    R0; P(tr_response_base(r, "/a/")); P(tr_response_inverse_regex(r, "x"));
    M; P(tr_response_inverse_regex_unescape(r)); EN(169); DONE(169); }
VT(regex_on_host_uri) { R0; REGEX_PRE; M; P(tr_response_regex_on_host_uri(r));
                        EN(155); DONE(155); }
VT(regex_on_user_uri) { R0; REGEX_PRE; M; P(tr_response_regex_on_user_uri(r));
                        EN(161); DONE(161); }
VT(regex_raw) { R0; REGEX_PRE; M; P(tr_response_regex_raw(r)); EN(262);
                DONE(262); }
VT(validate_mtime) {
    R0; M; P(tr_response_validate_mtime(r, 1700000000, "/etc/x"));
    EB(94, 0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00,
       '/', 'e', 't', 'c', '/', 'x');
    DONE(94); }
VT(uncached) { R0; M; P(tr_response_uncached(r)); EN(203); DONE(203); }
VT(eager_cache) { R0; M; P(tr_response_eager_cache(r)); EN(235);
                  DONE(235); }
VT(ignore_no_cache) { R0; M; P(tr_response_ignore_no_cache(r)); EN(260);
                      DONE(260); }
VT(auto_flush_cache) { R0; P(tr_response_path(r, "/f"));
                       P(tr_response_cache_tag(r, "t"));
                       M; P(tr_response_auto_flush_cache(r)); EN(236);
                       DONE(236); }

/* ---- repeated requests ---- */

VT(want)
{
    R0;
    const uint16_t v[] = { TP_CMD_REMOTE_HOST, TP_CMD_USER_AGENT };
    M;
    P(tr_response_want(r, v, 2));
    EB(115, 0x10, 0x00, 0x23, 0x00);
    DONE(115);
}

VT(want_full_uri) { R0; M; P(tr_response_want_full_uri(r, "w", 1));
                    ES(102, "w"); DONE(102); }
VT(check) { R0; M; P(tr_response_check(r, "c\0d", 3)); ES(64, "c\0d");
            DONE(64); }
VT(check_header) { R0; P(tr_response_check(r, "c", 1));
                   M; P(tr_response_check_header(r, "x-api-key"));
                   ES(240, "x-api-key"); DONE(240); }
VT(previous) { R0; M; P(tr_response_previous(r)); EN(65); DONE(65); }
VT(internal_redirect) { R0; P(tr_response_uri(r, "/other"));
                        M; P(tr_response_internal_redirect(r, "i", 1));
                        ES(163, "i"); DONE(163); }
VT(like_host) { R0; M; P(tr_response_like_host(r, "other.example"));
                ES(226, "other.example"); DONE(226); }
VT(layout) { R0; M; P(tr_response_layout(r, "L", 1)); ES(227, "L");
             P(tr_response_uri(r, "/x")); DONE(227); }
VT(access_control_allow_all) {
    R0; P(tr_response_layout(r, "L", 1)); P(tr_response_base(r, "/api/"));
    M; P(tr_response_access_control_allow_all(r)); EN(278); DONE(278); }
VT(chain) { R0; M; P(tr_response_chain(r, "ch", 2)); ES(215, "ch");
            DONE(215); }

VT(break_chain)
{
    (void)state;
    struct tp_request req;
    tp_request_init(&req);
    req.chain = tp_slice_str("ch");
    req.status = 200;
    struct tr_response *r = begin(&req);
    size_t m = mark(r);
    P(tr_response_break_chain(r));
    EN(216);
    DONE(216);
}

VT(transparent_chain) { R0; P(tr_response_chain(r, "c", 1));
                        M; P(tr_response_transparent_chain(r)); EN(231);
                        DONE(231); }
VT(error_document) { R0; M; P(tr_response_error_document(r, "", 0));
                     EN(63); DONE(63); }

/* ---- probing ---- */

VT(file_not_found) { R0; P(tr_response_path(r, "/f"));
                     M; P(tr_response_file_not_found(r, "n", 1));
                     ES(120, "n"); DONE(120); }
VT(directory_index) { R0; P(tr_response_path(r, "/d"));
                      M; P(tr_response_directory_index(r, "d", 1));
                      ES(123, "d"); DONE(123); }
VT(directory_index_slash) { R0; P(tr_response_path(r, "/d"));
                            P(tr_response_directory_index(r, "d", 1));
                            M; P(tr_response_directory_index_slash(r));
                            EN(280); DONE(280); }
VT(enotdir) { R0; P(tr_response_path(r, "/f"));
              M; P(tr_response_enotdir(r, "e", 1)); ES(130, "e");
              DONE(130); }
VT(path_exists) { R0; P(tr_response_path(r, "/f"));
                  M; P(tr_response_path_exists(r)); EN(247); DONE(247); }
VT(probe_path_suffixes) { R0; P(tr_response_test_path(r, "/t"));
                          M; P(tr_response_probe_path_suffixes(r, "p", 1));
                          ES(142, "p");
                          P(tr_response_probe_suffix(r, "html"));
                          DONE(142); }
VT(probe_suffix) { R0; P(tr_response_test_path(r, "/t"));
                   P(tr_response_probe_path_suffixes(r, "p", 1));
                   M; P(tr_response_probe_suffix(r, "php")); ES(143, "php");
                   DONE(143); }
VT(test_path) { R0; M; P(tr_response_test_path(r, "/t")); ES(127, "/t");
                DONE(127); }
VT(expand_test_path) { R0; REGEX_PRE;
                       M; P(tr_response_expand_test_path(r, "/t/\\1"));
                       ES(128, "/t/\\1"); DONE(128); }
VT(read_file) { R0; M; P(tr_response_read_file(r, "/etc/flag"));
                ES(152, "/etc/flag"); DONE(152); }
VT(expand_read_file) { R0; REGEX_PRE;
                       M; P(tr_response_expand_read_file(r, "/r/\\1"));
                       ES(153, "/r/\\1"); DONE(153); }

/* ---- sessions and authentication ---- */

VT(session) { R0; M; P(tr_response_session(r, "s\x01", 2));
              ES(12, "s\x01"); DONE(12); }
VT(realm_session) { R0; M; P(tr_response_realm_session(r, "rs", 2));
                    ES(245, "rs"); DONE(245); }
VT(realm) { R0; M; P(tr_response_realm(r, "")); EN(68); DONE(68); }
VT(realm_from_auth_base) { R0; P(tr_response_auth(r, "a", 1));
                           M; P(tr_response_realm_from_auth_base(r));
                           EN(175); DONE(175); }
VT(user) { R0; M; P(tr_response_user(r, "alice")); ES(14, "alice");
           DONE(14); }
VT(language) { R0; M; P(tr_response_language(r, "de")); ES(15, "de");
               DONE(15); }
VT(discard_session) { R0; M; P(tr_response_discard_session(r)); EN(46);
                      DONE(46); }
VT(discard_realm_session) { R0; M; P(tr_response_discard_realm_session(r));
                            EN(225); DONE(225); }
VT(attach_session) { R0; M; P(tr_response_attach_session(r, "as", 2));
                     ES(224, "as"); DONE(224); }
VT(session_site) { R0; M; P(tr_response_session_site(r, "ss"));
                   ES(156, "ss"); DONE(156); }
VT(secure_cookie) { R0; M; P(tr_response_secure_cookie(r)); EN(61);
                    DONE(61); }
VT(cookie_domain) { R0; M; P(tr_response_cookie_domain(r, "e.com"));
                    ES(85, "e.com"); DONE(85); }
VT(cookie_path) { R0; M; P(tr_response_cookie_path(r, "/app"));
                  ES(132, "/app"); DONE(132); }
VT(cookie_host) { R0; P(tr_response_path(r, "/f"));
                  M; P(tr_response_cookie_host(r, "h.e.com"));
                  ES(73, "h.e.com"); DONE(73); }
VT(expand_cookie_host) { R0; REGEX_PRE; P(tr_response_path(r, "/f"));
                         M; P(tr_response_expand_cookie_host(r, "\\1.e"));
                         ES(149, "\\1.e"); DONE(149); }
VT(session_cookie_same_site) {
    R0; M; P(tr_response_session_cookie_same_site(r, TP_SAME_SITE_LAX));
    ES(243, "lax"); DONE(243); }
VT(recover_session) { R0; M; P(tr_response_recover_session(r, "tok"));
                      ES(228, "tok"); DONE(228); }
VT(require_csrf_token) { R0; M; P(tr_response_require_csrf_token(r));
                         EN(209); DONE(209); }
VT(send_csrf_token) { R0; M; P(tr_response_send_csrf_token(r)); EN(210);
                      DONE(210); }
VT(auth) { R0; M; P(tr_response_auth(r, "realm", 5)); ES(133, "realm");
           DONE(133); }
VT(auth_file) { R0; M; P(tr_response_auth_file(r, "/etc/a"));
                ES(144, "/etc/a"); DONE(144); }
VT(expand_auth_file) { R0; REGEX_PRE;
                       M; P(tr_response_expand_auth_file(r, "/a/\\1"));
                       ES(145, "/a/\\1"); DONE(145); }
VT(append_auth) { R0; P(tr_response_auth(r, "a", 1));
                  M; P(tr_response_append_auth(r, "+x", 2)); ES(146, "+x");
                  DONE(146); }
VT(expand_append_auth) { R0; REGEX_PRE; P(tr_response_http_auth(r, "h", 1));
                         M; P(tr_response_expand_append_auth(r, "\\1"));
                         ES(147, "\\1"); DONE(147); }
VT(http_auth) { R0; M; P(tr_response_http_auth(r, "h", 1)); ES(219, "h");
                DONE(219); }
VT(token_auth) { R0; M; P(tr_response_token_auth(r, "t", 1)); ES(220, "t");
                 DONE(220); }

/* ---- the escape hatch ---- */

VT(packet_escape_hatch)
{
    R0;
    M;
    P(tr_response_packet(r, 5, "\xc8\x00", 2));      /* STATUS 200 */
    EB(5, 0xc8, 0x00);
    M;
    P(tr_response_packet(r, 256, "\x05\0\0\0", 4)); /* TIMEOUT: ignored */
    EB(256, 0x05, 0x00, 0x00, 0x00);
    finish_ok(r, 0);
}

/* Runs after every vector test (cmocka keeps the order). */
static void
t_every_accepted_packet_has_a_call(void **state)
{
    (void)state;
    size_t n = 0;
    for (unsigned c = 3; c <= TP_CMD_MAX; c++) {
        if (tp_response_packet_support((uint16_t)c) != TP_SUPPORT_ACCEPTED)
            continue;
        n++;
        if (!covered[c])
            fail_msg("no vector test for %s (%u)", tp_command_name(c), c);
    }
    assert_int_equal(n, 167);
}

/* ---- refusals ---- */

/* r must have failed with `code` and a message containing `msg`; every
 * later call returns the same code and adds nothing. */
static void
assert_refused(struct tr_response *r, int rc, int code, const char *msg)
{
    assert_int_equal(rc, code);
    assert_int_equal(tr_response_error_code(r), code);
    if (strstr(tr_response_error(r), msg) == NULL)
        fail_msg("error \"%s\" does not contain \"%s\"",
                 tr_response_error(r), msg);
    size_t before = mark(r);
    char saved[256];
    snprintf(saved, sizeof(saved), "%s", tr_response_error(r));
    assert_int_equal(tr_response_path(r, "/late"), code);
    assert_int_equal(tr_response_status(r, 200), code);
    assert_int_equal(tr_response_finish(r), code);
    assert_int_equal(mark(r), before);
    assert_string_equal(tr_response_error(r), saved);
    assert_null(tr_response_parsed(r));
    tr_response_free(r);
}

#define REFUSE(setup, call, code, msg)                                     \
    do {                                                                   \
        struct tr_response *r = begin(NULL);                               \
        setup;                                                             \
        size_t before_ = mark(r);                                          \
        int rc_ = (call);                                                  \
        assert_int_equal(mark(r), before_);                                \
        assert_refused(r, rc_, code, msg);                                 \
    } while (0)
#define NOTHING (void)0

static void
t_refusals_of_the_builder(void **state)
{
    (void)state;
    static char big[70000];
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '/';

    REFUSE(NOTHING, tr_response_path(r, NULL), -EINVAL,
           "NULL string for PATH");
    REFUSE(NOTHING, tr_response_path(r, big), -EINVAL,
           "payload of 69999 bytes over the limit of 65535 (PATH)");
    REFUSE(NOTHING, tr_response_session(r, NULL, 3), -EINVAL,
           "NULL payload for SESSION");
    REFUSE(NOTHING, tr_response_packet(r, 1, "\x03", 1), -EINVAL,
           "BEGIN is written by the builder");
    REFUSE(NOTHING, tr_response_packet(r, 2, NULL, 0), -EINVAL,
           "END is written by the builder");
    REFUSE(NOTHING, tr_response_status(r, 70000), -EINVAL,
           "STATUS value 70000 does not fit in 16 bits");
    REFUSE(CGI_PRE, tr_response_umask(r, 0x10000), -EINVAL,
           "UMASK value 65536 does not fit");
    REFUSE(CGI_PRE, tr_response_setenv(r, NULL, "x"), -EINVAL,
           "NULL name or value for SETENV");
    REFUSE(CGI_PRE, tr_response_setenv(r, "A", NULL), -EINVAL,
           "NULL name or value for SETENV");
    REFUSE(CGI_PRE, tr_response_setenv(r, "", "x"), -EINVAL,
           "SETENV name must be non-empty and without '='");
    REFUSE(CGI_PRE, tr_response_pair(r, "A=B", "x"), -EINVAL,
           "PAIR name must be non-empty and without '='");
    REFUSE(NOTHING, tr_response_header(r, "a:b", "x"), -EINVAL,
           "HEADER name must be non-empty and without ':'");
    REFUSE(NOTHING, tr_response_header(r, "x-big", big), -EINVAL,
           "over the limit of 65535 (HEADER)");
    REFUSE(CGI_PRE, tr_response_uid_gid(r, 1, 1, NULL, 33), -EINVAL,
           "UID_GID with 33 supplementary groups (limit 32)");
    REFUSE(NOTHING, tr_response_allow_remote_network(r, NULL, 0, 8),
           -EINVAL, "ALLOW_REMOTE_NETWORK needs an IPv4 or IPv6");
    struct sockaddr_in in = { .sin_family = AF_INET };
    REFUSE(NOTHING,
           tr_response_allow_remote_network(
               r, (const struct sockaddr *)&in, sizeof(in), 256),
           -EINVAL, "prefix length 256 does not fit in a byte");
    REFUSE(NOTHING, tr_response_address(r, NULL, 0), -EINVAL,
           "NULL socket address for ADDRESS");
    const struct tr_header_forward bad_group[] = { { 11, TP_HF_YES } };
    REFUSE(NOTHING, tr_response_request_header_forward(r, bad_group, 1),
           -EINVAL, "REQUEST_HEADER_FORWARD: no header group 11");
    const struct tr_header_forward bad_mode[] = {
        { TP_HG_COOKIE, (enum tp_header_forward_mode)4 },
    };
    REFUSE(NOTHING, tr_response_response_header_forward(r, bad_mode, 1),
           -EINVAL, "RESPONSE_HEADER_FORWARD: no forward mode 4");
    REFUSE(NOTHING, tr_response_response_header_forward(r, NULL, 0),
           -EINVAL, "RESPONSE_HEADER_FORWARD needs 1 to 12 entries");
    REFUSE(NOTHING,
           tr_response_session_cookie_same_site(r, TP_SAME_SITE_DEFAULT),
           -EINVAL, "must be STRICT, LAX or NONE, not 0");
    uint16_t many[65] = { 0 };
    REFUSE(NOTHING, tr_response_want(r, many, 65), -EINVAL,
           "WANT lists 65 commands (limit 64)");
    REFUSE(NOTHING, tr_response_vary(r, NULL, 2), -EINVAL,
           "NULL list for VARY");
    REFUSE(NOTHING, tr_response_validate_mtime(r, 1, NULL), -EINVAL,
           "NULL path for VALIDATE_MTIME");
    REFUSE(NOTHING, tr_response_validate_mtime(r, 1, big), -EINVAL,
           "over the limit of 65535 (VALIDATE_MTIME)");

    /* after a successful finish, no more packets */
    struct tr_response *r = begin(NULL);
    assert_int_equal(tr_response_finish(r), 0);
    size_t len = mark(r);
    assert_int_equal(tr_response_status(r, 200), -EINVAL);
    assert_string_equal(tr_response_error(r),
                        "STATUS packet after tr_response_finish()");
    assert_int_equal(mark(r), len);
    assert_int_equal(tr_response_finish(r), -EINVAL);
    tr_response_free(r);
}

/* NULL (tr_response_new() out of memory) is accepted everywhere. */
static void
t_null_response(void **state)
{
    (void)state;
    struct tr_response *r = NULL;
    assert_int_equal(tr_response_path(r, "/f"), -ENOMEM);
    assert_int_equal(tr_response_status(r, 200), -ENOMEM);
    assert_int_equal(tr_response_max_age(r, 1), -ENOMEM);
    assert_int_equal(tr_response_session(r, "s", 1), -ENOMEM);
    assert_int_equal(tr_response_header(r, "a", "b"), -ENOMEM);
    assert_int_equal(tr_response_vary(r, NULL, 0), -ENOMEM);
    assert_int_equal(tr_response_address(r, NULL, 0), -ENOMEM);
    assert_int_equal(tr_response_uid_gid(r, 1, 1, NULL, 0), -ENOMEM);
    assert_int_equal(tr_response_https_only(r, 0), -ENOMEM);
    assert_int_equal(tr_response_allow_remote_network(r, NULL, 0, 0),
                     -ENOMEM);
    assert_int_equal(tr_response_rate_limit_site_traffic(r, 1, 1), -ENOMEM);
    assert_int_equal(tr_response_request_header_forward(r, NULL, 0),
                     -ENOMEM);
    assert_int_equal(tr_response_validate_mtime(r, 1, "/x"), -ENOMEM);
    assert_int_equal(
        tr_response_session_cookie_same_site(r, TP_SAME_SITE_LAX), -ENOMEM);
    assert_int_equal(tr_response_packet(r, 5, "\xc8\0", 2), -ENOMEM);
    assert_int_equal(tr_response_finish(r), -ENOMEM);
    assert_int_equal(tr_response_error_code(r), -ENOMEM);
    assert_string_equal(tr_response_error(r), "out of memory (no response)");
    size_t len = 1;
    assert_null(tr_response_data(r, &len));
    assert_int_equal(len, 0);
    assert_null(tr_response_parsed(r));
    tr_response_free(r);
}

/* The parser's rules, reported at the call that breaks them. */
static void
t_refusals_of_the_parser(void **state)
{
    (void)state;
    REFUSE(NOTHING, tr_response_regex(r, "^x"), -EINVAL,
           "REGEX without BASE");
    REFUSE(NOTHING, tr_response_expand_path(r, "/\\1"), -EINVAL,
           "EXPAND_PATH without REGEX");
    REFUSE(CGI_PRE, tr_response_gzipped(r, "/f.gz"), -EINVAL,
           "misplaced GZIPPED packet: not valid for a CGI address");
    REFUSE(P(tr_response_path(r, "/f"));
           P(tr_response_content_type(r, "text/plain")),
           tr_response_content_type(r, "text/html"), -EINVAL,
           "duplicate CONTENT_TYPE packet");
    REFUSE(P(tr_response_path(r, "/f")), tr_response_cgi(r, "/c"), -EINVAL,
           "misplaced CGI packet: the main slot already has a PATH");
    REFUSE(NOTHING, tr_response_path(r, "relative"), -EINVAL,
           "malformed PATH packet");
    REFUSE(NOTHING, tr_response_status(r, 999), -EINVAL,
           "invalid HTTP status code 999");
    REFUSE(NOTHING, tr_response_message(r, "caf\xc3\xa9"), -EINVAL,
           "malformed MESSAGE packet: not printable US-ASCII");
    REFUSE(NOTHING, tr_response_http(r, "ftp://x/"), -EINVAL,
           "malformed HTTP packet");
    REFUSE(NOTHING, tr_response_header(r, "Connection", "close"), -EINVAL,
           "hop-by-hop HEADER packet (connection)");
    REFUSE(NOTHING, tr_response_break_chain(r), -EINVAL,
           "BREAK_CHAIN without CHAIN request");
    REFUSE(NOTHING, tr_response_content_type(r, "text/plain"), -EINVAL,
           "misplaced CONTENT_TYPE packet: no resource address");
    REFUSE(NOTHING, tr_response_packet(r, 109, NULL, 0), -EINVAL,
           "unsupported translation packet MOUNT_PROC (109)");
    REFUSE(NOTHING, tr_response_packet(r, 16, "h", 1), -EINVAL,
           "misplaced translate request packet REMOTE_HOST");
    REFUSE(NOTHING, tr_response_packet(r, 30, "x", 1), -EINVAL,
           "obsolete translation packet AJP (30)");
    REFUSE(NOTHING, tr_response_packet(r, 25, NULL, 0), -EINVAL,
           "unknown translation packet 25");
    REFUSE(NOTHING, tr_response_pipe(r, "/p"), -EINVAL,
           "PIPE is only valid after FILTER");

    /* checks that need the end of the response fail the finish */
    REFUSE(P(tr_response_http(r, "http://h/")), tr_response_finish(r),
           -EINVAL, "no ADDRESS for HTTP address");
    REFUSE(P(tr_response_lhttp_path(r, "/l")), tr_response_finish(r),
           -EINVAL, "missing LHTTP_URI");
    REFUSE(P(tr_response_layout(r, "L", 1)), tr_response_finish(r),
           -EINVAL, "empty LAYOUT");
    REFUSE(P(tr_response_internal_redirect(r, "i", 1)),
           tr_response_finish(r), -EINVAL,
           "INTERNAL_REDIRECT without URI");
}

/* The request kind decides a few rules (tr_response_new_for). */
static void
t_request_kinds(void **state)
{
    (void)state;
    struct tp_request req;

    /* CONTENT_TYPE_LOOKUP answer: CONTENT_TYPE without an address */
    tp_request_init(&req);
    req.content_type_lookup = tp_slice_str("x");
    req.suffix = tp_slice_str("html");
    struct tr_response *r = begin(&req);
    assert_int_equal(tr_response_content_type(r, "text/html"), 0);
    assert_int_equal(tr_response_finish(r), 0);
    assert_string_equal(tr_response_parsed(r)->content_type, "text/html");
    tr_response_free(r);

    /* after WANT, another WANT is a loop */
    tp_request_init(&req);
    req.uri = tp_slice_str("/");
    req.want[0] = TP_CMD_USER_AGENT;
    req.want_count = 1;
    r = begin(&req);
    const uint16_t w[] = { TP_CMD_LANGUAGE };
    assert_int_equal(tr_response_want(r, w, 1), -EINVAL);
    assert_string_equal(tr_response_error(r), "WANT loop");
    tr_response_free(r);

    tp_request_init(&req);
    req.want_full_uri = tp_slice_str("w");
    r = begin(&req);
    assert_int_equal(tr_response_want_full_uri(r, "w", 1), -EINVAL);
    assert_string_equal(tr_response_error(r), "WANT_FULL_URI loop");
    tr_response_free(r);

    /* an ordinary request: the same response is fine */
    r = tr_response_new();
    assert_non_null(r);
    assert_int_equal(tr_response_want(r, w, 1), 0);
    assert_int_equal(tr_response_finish(r), 0);
    tr_response_free(r);
}

#define U(fn) cmocka_unit_test(t_##fn)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        U(begin_end), U(full_example),
        U(path), U(nfs_server), U(nfs_export), U(http), U(cgi), U(fastcgi),
        U(was), U(lhttp_path), U(pipe), U(filter), U(address),
        U(address_string), U(sticky),
        U(content_type), U(content_type_lookup), U(gzipped),
        U(auto_gzipped), U(auto_brotli_path), U(beneath), U(append_path),
        U(expand_path), U(http2), U(certificate),
        U(path_info), U(expand_path_info), U(script_name),
        U(expand_script_name), U(document_root), U(expand_document_root),
        U(interpreter), U(action), U(request_uri_verbatim), U(auto_base),
        U(append), U(expand_append), U(pair), U(expand_pair), U(setenv),
        U(expand_setenv),
        U(concurrency), U(parallelism), U(disposable), U(instant_fade),
        U(process_name), U(lhttp_uri), U(expand_lhttp_uri), U(lhttp_host),
        U(non_blocking),
        U(child_tag), U(stderr_path), U(expand_stderr_path),
        U(stderr_null), U(chdir), U(uid_gid), U(umask), U(rlimits),
        U(no_new_privs), U(sigkill),
        U(filter_4xx), U(filter_no_body), U(reveal_user), U(transparent),
        U(cache_tag),
        U(status), U(redirect), U(expand_redirect),
        U(redirect_query_string), U(redirect_full_uri), U(bounce),
        U(message), U(tiny_image),
        U(https_only), U(allow_remote_network), U(no_query_string),
        U(discard_query_string), U(rate_limit_site_requests),
        U(rate_limit_site_traffic),
        U(header), U(expand_header), U(request_header),
        U(expand_request_header), U(request_header_forward),
        U(response_header_forward), U(www_authenticate),
        U(authentication_info),
        U(scheme), U(host), U(site), U(expand_site), U(uri), U(expand_uri),
        U(generator), U(analytics_id), U(stats_tag), U(listener_tag),
        U(expires_relative), U(expires_relative_with_query), U(defer),
        U(max_age), U(vary), U(invalidate), U(base), U(easy_base),
        U(unsafe_base), U(regex), U(inverse_regex), U(regex_tail),
        U(regex_unescape), U(inverse_regex_unescape), U(regex_on_host_uri),
        U(regex_on_user_uri), U(regex_raw), U(validate_mtime), U(uncached),
        U(eager_cache), U(ignore_no_cache), U(auto_flush_cache),
        U(want), U(want_full_uri), U(check), U(check_header), U(previous),
        U(internal_redirect), U(like_host), U(layout),
        U(access_control_allow_all), U(chain), U(break_chain),
        U(transparent_chain), U(error_document),
        U(file_not_found), U(directory_index), U(directory_index_slash),
        U(enotdir), U(path_exists), U(probe_path_suffixes),
        U(probe_suffix), U(test_path), U(expand_test_path), U(read_file),
        U(expand_read_file),
        U(session), U(realm_session), U(realm), U(realm_from_auth_base),
        U(user), U(language), U(discard_session), U(discard_realm_session),
        U(attach_session), U(session_site), U(secure_cookie),
        U(cookie_domain), U(cookie_path), U(cookie_host),
        U(expand_cookie_host), U(session_cookie_same_site),
        U(recover_session), U(require_csrf_token), U(send_csrf_token),
        U(auth), U(auth_file), U(expand_auth_file), U(append_auth),
        U(expand_append_auth), U(http_auth), U(token_auth),
        U(packet_escape_hatch),
        U(every_accepted_packet_has_a_call),
        U(refusals_of_the_builder), U(null_response),
        U(refusals_of_the_parser),
        U(request_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
