/* Accept-Encoding for precompressed variants; the contract is in
 * dp_accept_encoding.h. */
#include "dp_accept_encoding.h"

#include "h1_chars.h"

#include <string.h>
#include <strings.h>

/* qvalue at s[*i]: "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ]. */
static bool
qvalue(const char *s, size_t len, size_t *i, short *q)
{
    if (*i >= len || (s[*i] != '0' && s[*i] != '1'))
        return false;
    bool one = s[*i] == '1';
    int v = one ? 1000 : 0;
    (*i)++;
    if (*i < len && s[*i] == '.') {
        (*i)++;
        int scale = 100;
        for (int k = 0; k < 3 && *i < len && s[*i] >= '0' && s[*i] <= '9';
             k++) {
            if (one && s[*i] != '0')
                return false;
            v += (s[*i] - '0') * scale;
            scale /= 10;
            (*i)++;
        }
    }
    *q = (short)v;
    return true;
}

static bool
named(const char *tok, size_t n, const char *name)
{
    return n == strlen(name) && strncasecmp(tok, name, n) == 0;
}

static void
note(short *slot, short q)
{
    if (q > *slot)
        *slot = q;
}

static bool
parse(const char *s, size_t len, struct dp_accept_encoding *out)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] == ',' || h1_is_ows(s[i])) {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && h1_is_tchar(s[i]))
            i++;
        if (i == start)
            return false;
        const char *tok = s + start;
        size_t n = i - start;

        short q = 1000;
        size_t j = i;
        while (j < len && h1_is_ows(s[j]))
            j++;
        if (j < len && s[j] == ';') {
            j++;
            while (j < len && h1_is_ows(s[j]))
                j++;
            if (j + 1 >= len || (s[j] != 'q' && s[j] != 'Q') ||
                s[j + 1] != '=')
                return false;
            j += 2;
            if (!qvalue(s, len, &j, &q))
                return false;
            while (j < len && h1_is_ows(s[j]))
                j++;
        }
        if (j < len && s[j] != ',')
            return false;
        i = j;

        if (named(tok, n, "gzip") || named(tok, n, "x-gzip"))
            note(&out->q_gzip, q);
        else if (named(tok, n, "br"))
            note(&out->q_br, q);
        else if (named(tok, n, "identity"))
            note(&out->q_identity, q);
        else if (named(tok, n, "*"))
            note(&out->q_star, q);
    }
    return true;
}

int
dp_accept_encoding_parse(const char *s, size_t len,
                         struct dp_accept_encoding *out)
{
    struct dp_accept_encoding none = { false, -1, -1, -1, -1 };
    *out = none;
    if (s == NULL)
        return 0;
    struct dp_accept_encoding ae = none;
    if (!parse(s, len, &ae))
        return -1;
    ae.valid = true;
    *out = ae;
    return 0;
}

int
dp_accept_encoding_q(const struct dp_accept_encoding *ae,
                     enum dp_coding coding)
{
    short explicit_q;
    switch (coding) {
    case DP_CODING_GZIP:
        explicit_q = ae->q_gzip;
        break;
    case DP_CODING_BR:
        explicit_q = ae->q_br;
        break;
    case DP_CODING_IDENTITY:
    default:
        if (!ae->valid)
            return 1000;
        if (ae->q_identity >= 0)
            return ae->q_identity;
        if (ae->q_star >= 0)
            return ae->q_star;
        return 1;
    }
    if (!ae->valid)
        return 0;
    if (explicit_q >= 0)
        return explicit_q;
    return ae->q_star >= 0 ? ae->q_star : 0;
}

bool
dp_accept_encoding_accepts(const struct dp_accept_encoding *ae,
                           enum dp_coding coding)
{
    return dp_accept_encoding_q(ae, coding) > 0;
}

enum dp_coding
dp_accept_encoding_choose(const struct dp_accept_encoding *ae, bool have_br,
                          bool have_gzip)
{
    enum dp_coding best = DP_CODING_IDENTITY;
    int best_q = dp_accept_encoding_q(ae, DP_CODING_IDENTITY);
    int q;
    /* Later candidates must be strictly better, so ties go to the
     * earlier ones: br, then gzip, then identity. */
    if (have_gzip && (q = dp_accept_encoding_q(ae, DP_CODING_GZIP)) > 0 &&
        q >= best_q) {
        best = DP_CODING_GZIP;
        best_q = q;
    }
    if (have_br && (q = dp_accept_encoding_q(ae, DP_CODING_BR)) > 0 &&
        q >= best_q) {
        best = DP_CODING_BR;
        best_q = q;
    }
    return best;
}

const char *
dp_coding_name(enum dp_coding coding)
{
    switch (coding) {
    case DP_CODING_GZIP:
        return "gzip";
    case DP_CODING_BR:
        return "br";
    case DP_CODING_IDENTITY:
        break;
    }
    return NULL;
}
