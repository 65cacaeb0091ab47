/*
 * Fuzz target for dataplane/dp_config: the configuration language, over
 * the pure buffer parser only (dp_config_parse_buffer() refuses @include,
 * so no file is ever touched).
 *
 * The first byte chooses the mode (bit 0: accept settings that are not
 * supported yet); the rest is the configuration text.  Invariants, checked
 * with abort():
 * - the result is 0, -EINVAL or -ENOMEM; a failure has a message that
 *   starts with "fuzz.conf:LINE: " and a line inside the text;
 * - a success yields listeners whose addresses agree with their kind,
 *   family, length and port, no two on one address unless both set
 *   reuse_port (or the port is 0), translation sockets that are all local,
 *   strings that are non-empty and short enough, and parsing the same
 *   text again gives the same listeners and sockets;
 * - the stand-alone value parsers (address, size, duration) accept or
 *   refuse the text with a message, never anything else;
 * - dp_config_finish() leaves at least one listener and one translation
 *   socket; everything is freed (leaks show up under ASan).
 */
#include "dp_config.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static void
check_address(const struct dp_config_address *a, bool local_only)
{
    CHECK(a->text != NULL && a->text[0] != '\0');
    CHECK(a->addr_len > 0 && a->addr_len <= sizeof(a->addr));
    switch (a->kind) {
    case DP_CONFIG_ADDRESS_IPV4: {
        const struct sockaddr_in *sin = (const void *)&a->addr;
        CHECK(!local_only);
        CHECK(sin->sin_family == AF_INET);
        CHECK(a->addr_len == sizeof(*sin));
        CHECK(ntohs(sin->sin_port) == a->port);
        break;
    }
    case DP_CONFIG_ADDRESS_IPV6: {
        const struct sockaddr_in6 *sin6 = (const void *)&a->addr;
        CHECK(!local_only);
        CHECK(sin6->sin6_family == AF_INET6);
        CHECK(a->addr_len == sizeof(*sin6));
        CHECK(ntohs(sin6->sin6_port) == a->port);
        break;
    }
    case DP_CONFIG_ADDRESS_LOCAL:
    case DP_CONFIG_ADDRESS_ABSTRACT: {
        const struct sockaddr_un *sun = (const void *)&a->addr;
        CHECK(sun->sun_family == AF_LOCAL);
        CHECK(a->port == 0 && !a->wildcard);
        CHECK(a->addr_len <= sizeof(*sun));
        size_t n = a->addr_len - offsetof(struct sockaddr_un, sun_path);
        if (a->kind == DP_CONFIG_ADDRESS_LOCAL) {
            CHECK(a->text[0] == '/');
            CHECK(strlen(sun->sun_path) + 1 == n);
            CHECK(strcmp(sun->sun_path, a->text) == 0);
        } else {
            CHECK(a->text[0] == '@');
            CHECK(sun->sun_path[0] == '\0');
            CHECK(n - 1 == strlen(a->text + 1));
            CHECK(memcmp(sun->sun_path + 1, a->text + 1, n - 1) == 0);
        }
        break;
    }
    default:
        abort();
    }
}

static void
check_config(const struct dp_config *cfg)
{
    CHECK(cfg->n_listeners <= DP_CONFIG_MAX_LISTENERS);
    CHECK(cfg->n_translation_sockets <= DP_CONFIG_MAX_TRANSLATION_SOCKETS);
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct dp_config_listener *l = &cfg->listeners[i];
        check_address(&l->bind, false);
        CHECK(l->tag == NULL || l->tag[0] != '\0');
        CHECK(l->interface == NULL ||
              (l->interface[0] != '\0' && strlen(l->interface) < IFNAMSIZ));
        CHECK(l->ack_timeout_ms <= 86400000u);
        if (l->bind.kind != DP_CONFIG_ADDRESS_IPV6)
            CHECK(!l->v6only);
        if (l->bind.kind == DP_CONFIG_ADDRESS_LOCAL ||
            l->bind.kind == DP_CONFIG_ADDRESS_ABSTRACT)
            CHECK(!l->keepalive && !l->free_bind && l->ack_timeout_ms == 0 &&
                  l->interface == NULL);
        CHECK(l->n_translation_sockets <= DP_CONFIG_MAX_TRANSLATION_SOCKETS);
        for (size_t j = 0; j < l->n_translation_sockets; j++)
            check_address(&l->translation_sockets[j], true);
        CHECK(l->file != NULL && l->line > 0);
        /* TLS: options only with ssl yes, ssl yes only with a pair */
        CHECK(l->ssl == (l->n_ssl_certs > 0));
        CHECK(l->n_ssl_certs <= DP_CONFIG_MAX_SSL_CERTS);
        for (size_t j = 0; j < l->n_ssl_certs; j++)
            CHECK(l->ssl_certs[j].cert[0] != '\0' &&
                  l->ssl_certs[j].key[0] != '\0' &&
                  l->ssl_certs[j].name == NULL && l->ssl_certs[j].line > 0);
        CHECK((l->ssl_verify != DP_CONFIG_SSL_VERIFY_NO) ==
              (l->ssl_ca_cert != NULL));
        if (!l->ssl)
            CHECK(!l->sts && !l->redirect_http &&
                  l->ssl_verify == DP_CONFIG_SSL_VERIFY_NO);
        /* no two listeners on one address (unless sharable) */
        for (size_t j = 0; j < i; j++) {
            const struct dp_config_listener *o = &cfg->listeners[j];
            if (o->bind.addr_len == l->bind.addr_len &&
                memcmp(&o->bind.addr, &l->bind.addr, l->bind.addr_len) == 0)
                CHECK((o->reuse_port && l->reuse_port) ||
                      ((l->bind.kind == DP_CONFIG_ADDRESS_IPV4 ||
                        l->bind.kind == DP_CONFIG_ADDRESS_IPV6) &&
                       l->bind.port == 0));
        }
    }
    for (size_t i = 0; i < cfg->n_translation_sockets; i++)
        check_address(&cfg->translation_sockets[i], true);
    CHECK(cfg->n_ssl_client_certs <= DP_CONFIG_MAX_SSL_CERTS);
    for (size_t i = 0; i < cfg->n_ssl_client_certs; i++) {
        const struct dp_config_cert *c = &cfg->ssl_client_certs[i];
        CHECK(c->cert[0] != '\0' && c->key[0] != '\0');
        CHECK(c->name == NULL || c->name[0] != '\0');
        for (size_t j = 0; j < i && c->name != NULL; j++)
            CHECK(cfg->ssl_client_certs[j].name == NULL ||
                  strcmp(cfg->ssl_client_certs[j].name, c->name) != 0);
    }
    const struct dp_config_settings *s = &cfg->settings;
    CHECK(s->max_connections >= 1 && s->max_connections <= 1048576);
    CHECK(s->http_cache_size <= (1ull << 40));
    CHECK(s->session_idle_timeout >= 1000);
    CHECK(s->session_cookie != NULL && s->session_cookie[0] != '\0');
    CHECK(s->session_cookie_same_site == NULL ||
          strcmp(s->session_cookie_same_site, "strict") == 0 ||
          strcmp(s->session_cookie_same_site, "lax") == 0);
}

static bool
same_address(const struct dp_config_address *a,
             const struct dp_config_address *b)
{
    return a->kind == b->kind && a->port == b->port &&
           a->addr_len == b->addr_len &&
           memcmp(&a->addr, &b->addr, a->addr_len) == 0 &&
           strcmp(a->text, b->text) == 0;
}

static void
check_values(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    char why[400];
    struct dp_config_address a;
    uint64_t v;
    why[0] = '\0';
    int r = dp_config_parse_address(text, 80, (size & 1) != 0, &a, why,
                                    sizeof(why));
    CHECK(r == 0 || (r == -EINVAL && why[0] != '\0'));
    if (r == 0) {
        a.text = text;
        if (text[0] != '\0')
            check_address(&a, (size & 1) != 0);
    }
    why[0] = '\0';
    r = dp_config_parse_size(text, UINT64_MAX, &v, why, sizeof(why));
    CHECK(r == 0 || (r == -EINVAL && why[0] != '\0'));
    why[0] = '\0';
    r = dp_config_parse_duration(text, 1, 86400000, &v, why, sizeof(why));
    CHECK(r == 0 || (r == -EINVAL && why[0] != '\0'));
    if (r == 0)
        CHECK(v >= 1 && v <= 86400000);
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    bool lenient = (data[0] & 1) != 0;
    data++;
    size--;

    struct dp_config cfg;
    struct dp_config_error err;
    dp_config_init(&cfg);
    cfg.accept_unsupported = lenient;
    memset(&err, 0, sizeof(err));
    int r = dp_config_parse_buffer("fuzz.conf", data, size, &cfg, &err);
    CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    if (r != 0) {
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
            lines += data[i] == '\n';
        CHECK(strcmp(err.file, "fuzz.conf") == 0);
        CHECK(err.message[0] != '\0');
        if (r == -EINVAL)
            CHECK(err.line >= 1 && err.line <= lines);
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "fuzz.conf:%u: ", err.line);
        CHECK(strncmp(err.text, prefix, strlen(prefix)) == 0);
        CHECK(strlen(err.text) < sizeof(err.text));
    } else {
        check_config(&cfg);

        struct dp_config again;
        dp_config_init(&again);
        again.accept_unsupported = lenient;
        CHECK(dp_config_parse_buffer("fuzz.conf", data, size, &again, &err) ==
              0);
        CHECK(again.n_listeners == cfg.n_listeners);
        for (size_t i = 0; i < cfg.n_listeners; i++)
            CHECK(
                same_address(&again.listeners[i].bind, &cfg.listeners[i].bind));
        CHECK(again.n_translation_sockets == cfg.n_translation_sockets);
        for (size_t i = 0; i < cfg.n_translation_sockets; i++)
            CHECK(same_address(&again.translation_sockets[i],
                               &cfg.translation_sockets[i]));
        dp_config_free(&again);

        if (dp_config_finish(&cfg, &err) == 0)
            CHECK(cfg.n_listeners >= 1 && cfg.n_translation_sockets >= 1);
    }
    dp_config_free(&cfg);
    CHECK(cfg.n_listeners == 0 && cfg.listeners == NULL);

    if (size <= 4096)
        check_values(data, size);
    return 0;
}
