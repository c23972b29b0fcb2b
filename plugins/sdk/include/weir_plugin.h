/*
 * weir_plugin.h — the contract between weir and a dynamically loaded middleware plugin.
 *
 * ABI 1.3. C99 and C++ clean. This header is the contract: the Rust SDK (crate
 * `weir-plugin`) and weir's loader (src/plugin/abi.rs) mirror it and assert the layout.
 *
 * A plugin is a shared library that exports two symbols:
 *
 *   const uint32_t weir_abi_version = WEIR_ABI_VERSION;
 *   const weir_plugin *weir_plugin_init_v1(const weir_host *host, char *err, size_t err_cap);
 *
 * Versioning. weir reads `weir_abi_version` (major << 16 | minor) BEFORE it calls any
 * plugin code. A different major is refused. A plugin whose minor is newer than the
 * host's is refused (it may rely on services the host lacks); an older minor loads.
 * Both tables below begin with `struct_size` and only ever grow at the end, so a
 * plugin built against 1.0 keeps working in a 1.x host, and a plugin can check
 * `host->struct_size` before touching a service added in a later minor.
 *
 * Ownership. Only borrowed (pointer, length) views cross the boundary. Views the host
 * returns stay valid until the hook that received them returns, or until the plugin
 * changes the same head (set/add/remove header, set path, set status), whichever is
 * first; copy what you keep. Everything a plugin hands the host is copied before the
 * call returns. Plugin state (instances, per-request state) is an opaque pointer the
 * plugin alone creates and frees. Either side may use any allocator.
 *
 * Threads. The host table is immutable and lives for the whole process. One instance's
 * hooks run concurrently on several executor threads: instance state must be
 * thread-safe. The hooks of one request never overlap, but may run on different
 * threads. Hooks must not block (no I/O, no sleeping, no waiting on locks held long).
 *
 * Errors. Hooks must not unwind or throw across this boundary. Return WEIR_FAIL instead:
 * the request is answered 500 and nothing else is affected.
 *
 * Lifetime. Libraries are never unloaded. Every instance gets `instance_free` (if set)
 * when weir drops the chain it belongs to.
 */
#ifndef WEIR_PLUGIN_H
#define WEIR_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_ABI_MAJOR 1
#define WEIR_ABI_MINOR 3
#define WEIR_ABI_VERSION ((uint32_t)((WEIR_ABI_MAJOR << 16) | WEIR_ABI_MINOR))

/* Hook results for on_request and on_response. */
#define WEIR_CONTINUE 0 /* go on with the next middleware */
#define WEIR_RESPOND 1  /* on_request only: send the reply given to host->respond */
#define WEIR_FAIL 2     /* this request fails with 500 */

/* choose_upstream results besides an index >= 0. */
#define WEIR_PASS (-1)        /* let a later middleware choose */
#define WEIR_UPSTREAM_FAIL (-2) /* this request fails with 500 */

/* Which head a header service works on. */
#define WEIR_REQUEST 0
#define WEIR_RESPONSE 1

/* Log levels for host->log. */
#define WEIR_LOG_ERROR 0
#define WEIR_LOG_WARN 1
#define WEIR_LOG_INFO 2

/* Results of host services that change something. */
#define WEIR_OK 0
#define WEIR_EINVAL (-1)    /* bad name, value (CR, LF, NUL), path or status */
#define WEIR_EPHASE (-2)    /* not available in this phase (e.g. the response in on_request) */

/* One request as the host holds it; opaque, valid only during the hook it is passed to. */
typedef struct weir_request weir_request;

/* A borrowed byte view. Not NUL-terminated. `ptr` may be NULL when `len` is 0. */
typedef struct weir_str {
    const uint8_t *ptr;
    size_t len;
} weir_str;

/* A header for host->respond; the host copies both views. */
typedef struct weir_header {
    const uint8_t *name;
    size_t name_len;
    const uint8_t *value;
    size_t value_len;
} weir_header;

/* What happened to a request, for on_complete. */
typedef struct weir_summary {
    uint32_t struct_size;
    uint32_t status;       /* sent to the client; 0 if nothing could be sent */
    int32_t upstream;      /* index into the upstream list, or -1 if none was used */
    uint32_t reserved;     /* 0 */
    uint64_t bytes_in;     /* request body bytes received from the client */
    uint64_t bytes_out;    /* response body bytes sent to the client */
    uint64_t duration_us;  /* from the complete request head to the end */
} weir_summary;

/*
 * Services the host offers. Every function may be called from any hook on the thread
 * that runs the hook, with the `weir_request` that hook received; none blocks.
 */
typedef struct weir_host {
    uint32_t struct_size; /* sizeof(weir_host) as the host knows it */
    uint32_t abi_version; /* the host's WEIR_ABI_VERSION */

    /* The request line. Views (see Ownership). In on_response they are empty.
     * The path is in weir's normal form (RFC 3986 section 6.2.2 and the config's
     * limits.escaped_slashes / limits.ambiguous_segments: no %61 for 'a', no //, no dot
     * segments, ...), the same path routes matched, and the path the upstream is sent,
     * but before a route's strip_prefix: under `path = "/v2/"`, `strip_prefix = "/v2"`,
     * a plugin sees /v2/admin where the upstream gets /admin. The client's own spelling
     * is original_target (1.2). */
    weir_str (*method)(const weir_request *r);
    weir_str (*target)(const weir_request *r); /* origin-form: normal path and query */
    weir_str (*path)(const weir_request *r);   /* the target without the query */
    /* Replaces the path, keeping the query. on_request only. `path` must start with '/'
     * and hold visible ASCII other than '?' and '#'. WEIR_OK, WEIR_EINVAL, WEIR_EPHASE. */
    int32_t (*set_path)(weir_request *r, const uint8_t *path, size_t len);

    /* The `index`-th value (0 = first) of header `name` (case-insensitive) of `part`.
     * Returns 1 and fills `*out` when present, 0 when not. Loop over `index` to get
     * all values. */
    int32_t (*header_get)(const weir_request *r, uint32_t part, const uint8_t *name,
                          size_t name_len, size_t index, weir_str *out);
    /* Replaces every value of `name` with one / appends one / removes all.
     * WEIR_OK, WEIR_EINVAL, WEIR_EPHASE (the response before on_response, the request
     * after on_request, anything in on_complete). header_remove returns the count
     * removed, or WEIR_EINVAL / WEIR_EPHASE. Hop-by-hop and framing headers
     * (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
     * Proxy-Authorization, Content-Length) belong to weir: WEIR_EINVAL, also in respond. */
    int32_t (*header_set)(weir_request *r, uint32_t part, const uint8_t *name,
                          size_t name_len, const uint8_t *value, size_t value_len);
    int32_t (*header_add)(weir_request *r, uint32_t part, const uint8_t *name,
                          size_t name_len, const uint8_t *value, size_t value_len);
    int32_t (*header_remove)(weir_request *r, uint32_t part, const uint8_t *name,
                             size_t name_len);

    /* The response status: in on_response the upstream's, in on_complete the one sent;
     * 0 before there is a response. set_status works in on_response (100..=999). */
    uint32_t (*status)(const weir_request *r);
    int32_t (*set_status)(weir_request *r, uint32_t status);

    /* Records a local reply; on_request only, then return WEIR_RESPOND. `status` is
     * 200..=999; weir writes Content-Length itself. All views are copied. A later call
     * replaces an earlier one. WEIR_OK, WEIR_EINVAL, WEIR_EPHASE. */
    int32_t (*respond)(weir_request *r, uint32_t status, const weir_header *headers,
                       size_t n_headers, const uint8_t *body, size_t body_len);

    /* Writes one line to weir's error log, prefixed with the instance name when `r` is
     * not NULL. `msg` is copied. Callable from any thread, also outside hooks (r NULL). */
    void (*log)(const weir_request *r, uint32_t level, const uint8_t *msg, size_t len);

    /* The client's IP address as text ("192.0.2.1", "2001:db8::1") written to `buf`;
     * returns its full length (write nothing when it exceeds `cap`; 46 always fits). */
    size_t (*client_ip)(const weir_request *r, uint8_t *buf, size_t cap);
    /* How many upstreams choose_upstream may pick from: the servers of the request's
     * upstream group once it is routed (choose_upstream indexes into that group). */
    size_t (*upstream_count)(const weir_request *r);

    /* ---- 1.1: check host->struct_size covers a field before calling it. ---- */

    /* The matched route's name (its `name`, `routes[i]`, or `default` without routes)
     * and its upstream group's name (`default` for [upstream]). Empty views before the
     * request is routed: in on_request of the global chain, and for a request refused
     * before routing. Static for the life of the hook. */
    weir_str (*route)(const weir_request *r);
    weir_str (*upstream_group)(const weir_request *r);

    /* ---- 1.2: check host->struct_size covers a field before calling it. ---- */

    /* The request target exactly as the client sent it (absolute-form included,
     * nothing decoded), for logging or signatures over the raw URL. Never decide on
     * it: rules that read it can be passed by another spelling (use path). Empty in
     * on_response, like the request line. Static for the life of the hook. */
    weir_str (*original_target)(const weir_request *r);

    /* ---- 1.3: check host->struct_size covers a field before calling it. ---- */

    /* The HTTP version the client's request arrived in, as the access log prints it:
     * "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0". Text, not a number, so that a version a
     * later weir adds (an HTTP/3 listener) reaches an older plugin as a new string it
     * can log or refuse, never as a number it would mistake for one it knows: compare
     * the whole view, and treat any other text as "not the one I asked about". The
     * view points at static storage (valid for the life of the process). Empty in
     * on_response, like the request line, and for a request whose head could not be
     * parsed (a 400 in on_complete). */
    weir_str (*protocol)(const weir_request *r);
} weir_host;

/*
 * What a plugin offers: a static table returned by weir_plugin_init_v1. Every hook but
 * instance_new is optional (NULL). `instance` is what instance_new produced; `state` is
 * what request_new produced (NULL if request_new is NULL).
 */
typedef struct weir_plugin {
    uint32_t struct_size; /* sizeof(weir_plugin) as the plugin was built */
    uint32_t reserved;    /* 0 */
    const char *name;     /* static, NUL-terminated, e.g. "add-header" */

    /* Makes one instance from the chain entry's `config` table, given as JSON text
     * (`{}` when absent; not NUL-terminated). Stores the instance in `*instance` and
     * returns WEIR_OK, or writes a NUL-terminated reason into `err` (at most `err_cap`
     * bytes) and returns WEIR_FAIL; weir then refuses to start with that reason.
     * Called once per chain entry, on one thread, before any hook of that instance. */
    int32_t (*instance_new)(const weir_host *host, const uint8_t *config_json, size_t len,
                            void **instance, char *err, size_t err_cap);
    /* Frees an instance. No hook of it runs during or after the call. */
    void (*instance_free)(void *instance);

    /* Per-request state: made before the first hook of a request that reaches this
     * plugin, freed after its on_complete (or when the request is abandoned). A
     * WEIR_FAIL from request_new fails the request. */
    int32_t (*request_new)(void *instance, weir_request *r, void **state);
    void (*request_free)(void *instance, void *state);

    /* Front to back, once the head is parsed. WEIR_CONTINUE, WEIR_RESPOND (after
     * host->respond), or WEIR_FAIL. */
    int32_t (*on_request)(void *instance, void *state, weir_request *r);
    /* Front to back, the first index >= 0 wins; WEIR_PASS or WEIR_UPSTREAM_FAIL. An index
     * past host->upstream_count passes. Request heads are read-only here. */
    int32_t (*choose_upstream)(void *instance, void *state, weir_request *r);
    /* Back to front, on the response head before it is sent. WEIR_CONTINUE or WEIR_FAIL
     * (the client then gets 500 instead of this response). */
    int32_t (*on_response)(void *instance, void *state, weir_request *r);
    /* Exactly once per request that reached the chain, whatever happened. Read-only. */
    void (*on_complete)(void *instance, void *state, const weir_request *r,
                        const weir_summary *summary);
} weir_plugin;

#if defined(__GNUC__) || defined(__clang__)
#define WEIR_EXPORT __attribute__((visibility("default")))
#else
#define WEIR_EXPORT
#endif

/*
 * The two exports. Define them in exactly one translation unit of the plugin:
 *
 *   WEIR_EXPORT const uint32_t weir_abi_version = WEIR_ABI_VERSION;
 *   WEIR_EXPORT const weir_plugin *weir_plugin_init_v1(const weir_host *h, char *e, size_t n)
 *   { ... return &my_plugin; }
 *
 * (Declared here so that C++ gives the const object external linkage.)
 *
 * weir_plugin_init_v1 is called once per library, on one thread, after the version
 * check and before anything else. `host` lives forever; keep it if you like. Return a
 * table that lives forever, or NULL with a NUL-terminated reason in `err` (at most
 * `err_cap` bytes); weir then refuses to start with that reason.
 */
extern WEIR_EXPORT const uint32_t weir_abi_version;
WEIR_EXPORT const weir_plugin *weir_plugin_init_v1(const weir_host *host, char *err,
                                                   size_t err_cap);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* WEIR_PLUGIN_H */
