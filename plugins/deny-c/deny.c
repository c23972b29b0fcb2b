/*
 * deny-c: answers requests whose path starts with a prefix locally, e.g. 403 for
 * /admin. A weir plugin in plain C99, with no dependencies: the config arrives as JSON
 * text and this plugin reads its two keys with a tiny scanner instead of a JSON library.
 *
 * Config: { prefix = "/admin", status = 403 }   (both optional)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_plugin.h"

typedef struct deny {
    char prefix[256];
    size_t prefix_len;
    uint32_t status;
} deny;

/* Finds `"key":` in flat JSON and returns the text after the colon, or NULL. Good
 * enough for the flat objects weir hands over; a real plugin may use a JSON library. */
static const char *json_value(const char *json, size_t len, const char *key) {
    char pat[64];
    int n = snprintf(pat, sizeof pat, "\"%s\":", key);
    if (n <= 0 || (size_t)n >= sizeof pat) return NULL;
    for (size_t i = 0; i + (size_t)n <= len; i++) {
        if (memcmp(json + i, pat, (size_t)n) == 0) return json + i + n;
    }
    return NULL;
}

static int32_t instance_new(const weir_host *host, const uint8_t *config, size_t len,
                            void **instance, char *err, size_t err_cap) {
    (void)host;
    const char *json = (const char *)config;
    deny *d = calloc(1, sizeof *d);
    if (!d) return WEIR_FAIL;
    strcpy(d->prefix, "/admin");
    d->prefix_len = strlen(d->prefix);
    d->status = 403;
    const char *p = json_value(json, len, "prefix");
    if (p) {
        const char *end = p + 1;
        while (end < json + len && *end != '"') end++;
        size_t n = (size_t)(end - p - 1);
        if (*p != '"' || n == 0 || n >= sizeof d->prefix) {
            snprintf(err, err_cap, "prefix must be a non-empty string under 256 bytes");
            free(d);
            return WEIR_FAIL;
        }
        memcpy(d->prefix, p + 1, n);
        d->prefix[n] = '\0';
        d->prefix_len = n;
    }
    const char *s = json_value(json, len, "status");
    if (s) {
        long v = strtol(s, NULL, 10);
        if (v < 200 || v > 599) {
            snprintf(err, err_cap, "status must be 200..=599, got %ld", v);
            free(d);
            return WEIR_FAIL;
        }
        d->status = (uint32_t)v;
    }
    *instance = d;
    return WEIR_OK;
}

static void instance_free(void *instance) { free(instance); }

static const weir_host *host; /* set once in init, read-only afterwards */

static int32_t on_request(void *instance, void *state, weir_request *r) {
    (void)state;
    const deny *d = instance; /* only read: safe from many threads at once */
    weir_str path = host->path(r);
    if (path.len < d->prefix_len || memcmp(path.ptr, d->prefix, d->prefix_len) != 0)
        return WEIR_CONTINUE;
    static const char body[] = "denied\n";
    static const char ct[] = "text/plain";
    weir_header h = {(const uint8_t *)"Content-Type", 12, (const uint8_t *)ct, sizeof ct - 1};
    if (host->respond(r, d->status, &h, 1, (const uint8_t *)body, sizeof body - 1) != WEIR_OK)
        return WEIR_FAIL;
    return WEIR_RESPOND;
}

static const weir_plugin plugin = {
    sizeof(weir_plugin), 0, "deny-c",
    instance_new, instance_free,
    NULL, NULL,             /* no per-request state */
    on_request, NULL, NULL, NULL,
};

WEIR_EXPORT const uint32_t weir_abi_version = WEIR_ABI_VERSION;

WEIR_EXPORT const weir_plugin *weir_plugin_init_v1(const weir_host *h, char *err,
                                                   size_t err_cap) {
    (void)err;
    (void)err_cap;
    host = h;
    return &plugin;
}
