/*
 * dp_tls: the OpenSSL side of portierd's TLS (docs/tls.md): one server
 * context per TLS listener, the ssl_client certificates, and what a
 * handshake tells about the client.
 *
 * Promises:
 * - dp_tls_server_new() builds everything a listener needs from its
 *   configuration, or fails with one message naming the configuration
 *   file and line of the offending option and the problem ("portierd.conf:
 *   7: ssl_cert: private key /etc/x.key does not match certificate
 *   /etc/x.pem").  Files are read only here (at start-up and reload, before
 *   privileges are dropped), never while serving.
 * - A server context speaks TLS 1.2 and 1.3 (ECDHE with AES-GCM or
 *   ChaCha20-Poly1305 for 1.2, OpenSSL's defaults for 1.3), offers ALPN
 *   "http/1.1" only, keeps a server-side session cache and issues session
 *   tickets whose keys every worker forked after the context was built
 *   shares; renegotiation is refused.
 * - The certificate for a connection is chosen by SNI (dp_tls_name.h)
 *   among the names of every ssl_cert pair (subjectAltName DNS names, or
 *   the subject CN when there are none); the first pair answers a client
 *   without SNI or with an unknown name.
 * - ssl_verify yes: a client certificate signed by ssl_ca_cert is required;
 *   optional: it is requested, and verified when sent.  A certificate
 *   that fails verification fails the handshake in both cases.
 * - A connection keeps OpenSSL's read and write buffers (about 34 KiB)
 *   from record to record; dp_tls_release_buffers() frees them between
 *   records, for a connection that waits.
 * - The objects own their OpenSSL references; the free functions release
 *   them (connections still open keep their SSL_CTX alive by reference).
 */
#ifndef PORTIER_DP_TLS_H
#define PORTIER_DP_TLS_H

#include "dp_config.h"

#include <openssl/ssl.h>

#include <stdbool.h>
#include <stddef.h>

struct dp_tls_server;

/** The server context of one listener (l->ssl must be set); NULL with
 *  `err` set when a file is missing or unusable, a key does not match its
 *  certificate, or OpenSSL refuses a setting. */
struct dp_tls_server *
dp_tls_server_new(const struct dp_config_listener *l,
                  struct dp_config_error *err);

void
dp_tls_server_free(struct dp_tls_server *server);

/** The context connections are created from. */
SSL_CTX *
dp_tls_server_ctx(const struct dp_tls_server *server);

/** The listener's `sts` and `redirect-http` options. */
bool
dp_tls_server_sts(const struct dp_tls_server *server);

bool
dp_tls_server_redirect_http(const struct dp_tls_server *server);

/** The number of ssl_cert pairs (for logs). */
size_t
dp_tls_server_cert_count(const struct dp_tls_server *server);

/** One loaded `ssl_client` certificate: owned by its dp_tls_client. */
struct dp_tls_client_cert {
    const char *name;           /* NULL when the line has none */
    X509 *cert;
    EVP_PKEY *key;
    STACK_OF(X509) *chain;      /* the rest of the certificate file */
};

struct dp_tls_client;

/** Load and check every `ssl_client` certificate of `cfg` (an object with
 *  no certificates when there are none); NULL with `err` set. */
struct dp_tls_client *
dp_tls_client_new(const struct dp_config *cfg, struct dp_config_error *err);

void
dp_tls_client_free(struct dp_tls_client *client);

size_t
dp_tls_client_count(const struct dp_tls_client *client);

/** The certificate named `name` (the CERTIFICATE translation packet), or
 *  NULL when no `cert` line has that name. */
const struct dp_tls_client_cert *
dp_tls_client_find(const struct dp_tls_client *client, const char *name);

/** Every TLS object of a configuration: servers[i] for listeners[i] (NULL
 *  for a plain listener), and the client certificates. */
struct dp_tls_set {
    struct dp_tls_server **servers;
    size_t n_servers;
    struct dp_tls_client *client;
};

/** Build the set for `cfg`: 0, or -EINVAL with `err` set (the first
 *  problem); the set is empty (and needs no free) on failure. */
int
dp_tls_set_load(const struct dp_config *cfg, struct dp_tls_set *set,
                struct dp_config_error *err);

void
dp_tls_set_free(struct dp_tls_set *set);

/**
 * After a completed handshake: the subject and the issuer of the client
 * certificate, when one was sent and verified, as RFC 2253 strings
 * ("CN=alice,O=Example"; non-ASCII and control bytes escaped, so they fit
 * a header).  *subject and *issuer are malloc()ed or NULL.  0, or -ENOMEM.
 */
int
dp_tls_peer_names(SSL *ssl, char **subject, char **issuer);

/** Free the record buffers of a connection that is between records (an
 *  idle keep-alive connection); the next read or write allocates them
 *  again.  false (nothing freed) while a record is partly read, read
 *  ahead or partly written. */
bool
dp_tls_release_buffers(SSL *ssl);

/** The reason of the last OpenSSL error on this thread (and clear the
 *  queue), for log lines: "tlsv1 alert unknown ca", or `fallback`. */
const char *
dp_tls_error_reason(const char *fallback);

#endif
