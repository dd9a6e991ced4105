// viaduct's UDP fast path: a Node-API addon that does what node:dgram does, with fewer
// syscalls and allocations per datagram.
//
// Why: at a few thousand calls/s the per-datagram cost of node:dgram (a recvmsg that succeeds
// plus one that returns EAGAIN, a 64 KiB allocation shrunk to size, a Buffer, an rinfo object
// with an address string, and a MakeCallback per datagram) was the largest item in the profile
// after the kernel. Here one readiness event costs one recvmmsg() that reads up to BATCH
// datagrams into a buffer JavaScript already holds, and one call into JavaScript for the
// batch. Measured in bench/ (see README "Performance").
//
// The sockets are plain file descriptors opened by the main thread. Any thread may send on
// them (sendto is thread-safe); exactly one thread watches each for reading. A thread that dies
// takes its watcher with it (env cleanup hook) but not the socket, so datagrams queued in the
// kernel wait for its successor.
#define _GNU_SOURCE  // recvmmsg, sendmmsg
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 32          // datagrams per recvmmsg()
#define SLOT 65536        // bytes per datagram slot: the largest UDP payload fits
// Metadata per datagram, META bytes (src/core/runtime/udp-native.ts UDP_META names the same
// slots and checks META and META_TEXT at load): int32 length, int32 source port, int32 family (4 or 6),
// the 16 raw address bytes (to recognise a known peer without a string), int32 length of the
// address text, then the text as inet_ntop writes it (what node:dgram's rinfo.address holds).
#define META 96
#define META_TEXT 32

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) return throw_last(env, #call);             \
  } while (0)

static napi_value throw_last(napi_env env, const char* what) {
  const napi_extended_error_info* info = NULL;
  napi_get_last_error_info(env, &info);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, NULL, info && info->error_message ? info->error_message : what);
  return NULL;
}

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, error;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, NULL, text, &error);
  napi_create_int32(env, err, &code);
  napi_set_named_property(env, error, "errno", code);
  napi_throw(env, error);
  return NULL;
}

static int parse_address(const char* ip, int port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  if (strchr(ip, ':') != NULL) {
    struct sockaddr_in6* a = (struct sockaddr_in6*)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (inet_pton(AF_INET6, ip, &a->sin6_addr) != 1) return -1;
    *len = sizeof *a;
  } else {
    struct sockaddr_in* a = (struct sockaddr_in*)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &a->sin_addr) != 1) return -1;
    *len = sizeof *a;
  }
  return 0;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "too few arguments");
    return -1;
  }
  return 0;
}

static napi_value int_value(napi_env env, int32_t v) {
  napi_value out;
  if (napi_create_int32(env, v, &out) != napi_ok) return throw_last(env, "napi_create_int32");
  return out;
}

// The first `n` arguments, the first one a descriptor.
static int fd_args(napi_env env, napi_callback_info info, size_t n, napi_value* argv, int32_t* fd) {
  if (get_args(env, info, n, argv)) return -1;
  if (napi_get_value_int32(env, argv[0], fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "the descriptor must be a number");
    return -1;
  }
  return 0;
}

// ------------------------------------------------------------------------------------------
// open(ip, port, sendBufferBytes, receiveBufferBytes) -> fd. No SO_REUSEADDR: the main thread opens each socket once
// and shares the descriptor with the threads, so a port another process holds fails with
// EADDRINUSE instead of being silently shared. IPv6 sockets are IPv6-only. Throws with errno
// (EADDRINUSE, EADDRNOTAVAIL...).
static napi_value Open(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (get_args(env, info, 4, argv)) return NULL;
  char ip[64];
  size_t n;
  int32_t port, send_bytes, recv_bytes;
  CHECK(napi_get_value_string_latin1(env, argv[0], ip, sizeof ip, &n));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_int32(env, argv[2], &send_bytes));
  CHECK(napi_get_value_int32(env, argv[3], &recv_bytes));
  struct sockaddr_storage ss;
  socklen_t len;
  if (parse_address(ip, port, &ss, &len)) return throw_errno(env, "bad IP address", EINVAL);
  int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (send_bytes > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_bytes, sizeof send_bytes);
  if (recv_bytes > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &recv_bytes, sizeof recv_bytes);
  if (bind(fd, (struct sockaddr*)&ss, len) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind", err);
  }
  return int_value(env, fd);
}

// setReceiveBuffer(fd, bytes): SO_RCVBUF (the kernel caps it at net.core.rmem_max).
static napi_value SetReceiveBuffer(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, bytes;
  if (fd_args(env, info, 2, argv, &fd)) return NULL;
  CHECK(napi_get_value_int32(env, argv[1], &bytes));
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes) < 0) return throw_errno(env, "setsockopt SO_RCVBUF", errno);
  return NULL;
}

// close(fd)
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (fd_args(env, info, 1, argv, &fd)) return NULL;
  close(fd);
  return NULL;
}

// localPort(fd) -> the bound port (for port 0)
static napi_value LocalPort(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (fd_args(env, info, 1, argv, &fd)) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr*)&ss, &len) < 0) return throw_errno(env, "getsockname", errno);
  int port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6*)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in*)&ss)->sin_port);
  return int_value(env, port);
}

// ------------------------------------------------------------------------------------------
// Sending. The last destination is cached per thread: a proxy sends to the same few peers.
typedef struct {
  char ip[64];
  int port;
  struct sockaddr_storage ss;
  socklen_t len;
} SendCache;

struct Watcher;

// Datagrams sent while JavaScript handles a received batch are held here and leave together in
// one sendmmsg() when the batch callback returns: at 2000 calls/s a wake-up carries ~8
// datagrams, and one syscall for their ~8 replies and forwards replaces ~8 sendto() calls (each
// also a point where the woken receiver preempts us). Order is kept: the queue is flushed before
// anything else runs on this thread, and before a datagram for another descriptor is queued.
#define OUT_MAX 64               // datagrams held at most
#define OUT_BYTES (256 * 1024)   // their bytes (copied: the caller reuses its buffer)
typedef struct {
  int active;                    // inside a batch callback: sends are queued
  int fd;                        // the descriptor of every queued datagram
  int count;
  size_t used;
  struct mmsghdr msgs[OUT_MAX];
  struct iovec iov[OUT_MAX];
  struct sockaddr_storage to[OUT_MAX];
  uint8_t bytes[OUT_BYTES];
} OutQueue;

typedef struct {
  SendCache send;
  OutQueue out;
  double* send_errors;                       // the thread's send_errors counter cell, if given
  napi_ref send_errors_ref;
  struct Watcher* watchers;
  int closing;                               // watchers whose handle is closing
  napi_async_cleanup_hook_handle cleanup;    // set while the thread is ending
} Instance;

// Sends the queued datagrams. sendmmsg() stops at the first one the kernel refuses (and reports
// the error only when that one is first): that one is counted and skipped, the rest go on.
static void flush(Instance* inst) {
  OutQueue* q = &inst->out;
  int i = 0;
  while (i < q->count) {
    int r = sendmmsg(q->fd, q->msgs + i, (unsigned)(q->count - i), 0);
    if (r > 0) {
      i += r;
    } else if (r < 0 && errno == EINTR) {
      continue;
    } else {
      if (inst->send_errors) *inst->send_errors += 1;
      i++;
    }
  }
  q->count = 0;
  q->used = 0;
}

// send(fd, data, port, ip) -> bytes sent, or -errno (EAGAIN when the send buffer is full,
// EINVAL for an address that is not an IP literal of the socket's family). Inside a batch
// callback the bytes are queued instead (see OutQueue) and their length is returned.
static napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (get_args(env, info, 4, argv)) return NULL;
  Instance* inst = NULL;
  napi_get_instance_data(env, (void**)&inst);
  SendCache* cache = &inst->send;
  int32_t fd, port;
  void* data;
  size_t size, n;
  char ip[64];
  CHECK(napi_get_value_int32(env, argv[0], &fd));
  CHECK(napi_get_buffer_info(env, argv[1], &data, &size));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  CHECK(napi_get_value_string_latin1(env, argv[3], ip, sizeof ip, &n));
  ssize_t r;
  if (cache->port != port || strcmp(cache->ip, ip) != 0) {
    if (parse_address(ip, port, &cache->ss, &cache->len)) {
      cache->port = -1;
      r = -EINVAL;
      goto out;
    }
    memcpy(cache->ip, ip, n + 1);
    cache->port = port;
  }
  OutQueue* q = &inst->out;
  if (q->active && size <= OUT_BYTES) {
    if (q->count == OUT_MAX || q->used + size > OUT_BYTES || (q->count > 0 && q->fd != fd)) flush(inst);
    int i = q->count++;
    memcpy(q->bytes + q->used, data, size);
    q->iov[i].iov_base = q->bytes + q->used;
    q->iov[i].iov_len = size;
    memcpy(&q->to[i], &cache->ss, cache->len);
    q->msgs[i].msg_hdr.msg_namelen = cache->len;
    q->used += size;
    q->fd = fd;
    r = (ssize_t)size;  // a failure at flush time is counted in send_errors (countSendErrors)
    goto out;
  }
  do r = sendto(fd, data, size, 0, (struct sockaddr*)&cache->ss, cache->len);
  while (r < 0 && errno == EINTR);
  if (r < 0) r = -errno;
out:;
  return int_value(env, (int32_t)r);
}

// countSendErrors(row, index): queued datagrams that fail at flush time add to row[index] (a
// Float64Array cell of this thread's counters; only this thread writes it).
static napi_value CountSendErrors(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv)) return NULL;
  Instance* inst = NULL;
  napi_get_instance_data(env, (void**)&inst);
  napi_typedarray_type type;
  size_t length;
  void* data;
  int32_t index;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, NULL, NULL));
  CHECK(napi_get_value_int32(env, argv[1], &index));
  if (type != napi_float64_array || index < 0 || (size_t)index >= length) {
    napi_throw_range_error(env, NULL, "countSendErrors: a Float64Array and an index inside it");
    return NULL;
  }
  if (inst->send_errors_ref) napi_delete_reference(env, inst->send_errors_ref);
  CHECK(napi_create_reference(env, argv[0], 1, &inst->send_errors_ref));
  inst->send_errors = (double*)data + index;
  return NULL;
}

// ------------------------------------------------------------------------------------------
// Receiving: watch(fd, slots, meta, onBatch) -> watcher id. `slots` is a BATCH*SLOT byte
// buffer and `meta` a BATCH*META byte buffer, both owned by JavaScript; onBatch(count) is
// called once per readiness event with `count` datagrams in slots 0..count-1. The bytes are
// valid only during the call.
typedef struct Watcher {
  uv_poll_t poll;
  napi_env env;
  Instance* inst;
  int fd;
  napi_ref on_batch, slots_ref, meta_ref;
  napi_async_context async;
  uint8_t* slots;
  uint8_t* meta;
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  struct sockaddr_storage from[BATCH];
  uint8_t last_addr[16];  // the last source address and its text: inet_ntop is a printf
  char last_text[META - META_TEXT];
  int32_t last_text_len;
  struct Watcher* next;  // the env's list, for the cleanup hook
} Watcher;

static void on_closed(uv_handle_t* h) {
  Watcher* w = h->data;
  Instance* inst = w->inst;
  free(w);
  // the thread is ending and this was the last handle: let Node close the loop
  if (--inst->closing == 0 && inst->cleanup) {
    napi_remove_async_cleanup_hook(inst->cleanup);
    inst->cleanup = NULL;
  }
}

static void release(Watcher* w, bool env_alive) {
  uv_poll_stop(&w->poll);
  if (env_alive) {
    napi_delete_reference(w->env, w->on_batch);
    if (w->slots_ref) napi_delete_reference(w->env, w->slots_ref);
    if (w->meta_ref) napi_delete_reference(w->env, w->meta_ref);
    napi_async_destroy(w->env, w->async);
  }
  w->inst->closing++;
  uv_close((uv_handle_t*)&w->poll, on_closed);
}

// Calls the watcher's JavaScript callback with `count` (a batch size; 0 for a doorbell).
static void call_js(Watcher* w, int count) {
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[1], result;
  napi_get_reference_value(env, w->on_batch, &cb);
  napi_get_global(env, &recv);  // make_callback needs an object as receiver
  napi_create_int32(env, count, &argv[0]);
  OutQueue* q = &w->inst->out;
  q->active = 1;  // sends from here on are queued (see OutQueue)
  // make_callback, not call_function: it runs process.nextTick callbacks and microtasks after
  napi_status status = napi_make_callback(env, w->async, recv, cb, 1, argv, &result);
  q->active = 0;
  flush(w->inst);
  if (status == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);  // process 'uncaughtException', as for an event handler
  }
  napi_close_handle_scope(env, scope);
}

static void on_readable(uv_poll_t* h, int status, int events) {
  Watcher* w = h->data;
  if (status < 0 || !(events & UV_READABLE)) return;
  if (w->slots == NULL) {  // a doorbell: reset the eventfd, then tell JavaScript
    uint64_t v;
    if (read(w->fd, &v, sizeof v) < 0 && errno == EAGAIN) return;
    call_js(w, 0);
    return;
  }
  for (int i = 0; i < BATCH; i++) {
    w->msgs[i].msg_hdr.msg_namelen = sizeof w->from[i];
  }
  int n;
  do n = recvmmsg(w->fd, w->msgs, BATCH, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return;  // EAGAIN: another reader was quicker; level-triggered poll calls again
  for (int i = 0; i < n; i++) {
    uint8_t* m = w->meta + i * META;
    int32_t len = (int32_t)w->msgs[i].msg_len, port = 0, family = 0, text = 0;
    memset(m + 12, 0, 16);
    char* t = (char*)m + META_TEXT;
    if (w->from[i].ss_family == AF_INET) {
      struct sockaddr_in* a = (struct sockaddr_in*)&w->from[i];
      port = ntohs(a->sin_port);
      family = 4;
      memcpy(m + 12, &a->sin_addr, 4);
    } else if (w->from[i].ss_family == AF_INET6) {
      struct sockaddr_in6* a = (struct sockaddr_in6*)&w->from[i];
      port = ntohs(a->sin6_port);
      family = 6;
      memcpy(m + 12, &a->sin6_addr, 16);
    }
    if (family != 0) {
      if (w->last_text_len == 0 || memcmp(w->last_addr, m + 12, 16) != 0) {
        if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, m + 12, w->last_text, sizeof w->last_text)) w->last_text[0] = 0;
        w->last_text_len = (int32_t)strlen(w->last_text);
        memcpy(w->last_addr, m + 12, 16);
      }
      text = w->last_text_len;
      memcpy(t, w->last_text, (size_t)text);
    }
    memcpy(m, &len, 4);
    memcpy(m + 4, &port, 4);
    memcpy(m + 8, &family, 4);
    memcpy(m + 28, &text, 4);
  }
  call_js(w, n);
}

// Starts polling fd on this thread's loop. slots/meta: a socket's buffers (see above), or
// NULL for a doorbell.
static napi_value start_watcher(napi_env env, int32_t fd, napi_value on_batch, napi_value slots_v, napi_value meta_v) {
  Instance* inst = NULL;
  napi_get_instance_data(env, (void**)&inst);
  uv_loop_t* loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  Watcher* w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "watch", ENOMEM);
  w->env = env;
  w->inst = inst;
  w->fd = fd;
  if (slots_v) {
    void *slots, *meta;
    size_t slots_len, meta_len;
    if (napi_get_buffer_info(env, slots_v, &slots, &slots_len) != napi_ok ||
        napi_get_buffer_info(env, meta_v, &meta, &meta_len) != napi_ok ||
        slots_len < BATCH * SLOT || meta_len < BATCH * META) {
      free(w);
      napi_throw_range_error(env, NULL, "watch: slot or meta buffer missing or too small");
      return NULL;
    }
    w->slots = slots;
    w->meta = meta;
    for (int i = 0; i < BATCH; i++) {
      w->iov[i].iov_base = w->slots + (size_t)i * SLOT;
      w->iov[i].iov_len = SLOT;
      w->msgs[i].msg_hdr.msg_iov = &w->iov[i];
      w->msgs[i].msg_hdr.msg_iovlen = 1;
      w->msgs[i].msg_hdr.msg_name = &w->from[i];
    }
    napi_create_reference(env, slots_v, 1, &w->slots_ref);
    napi_create_reference(env, meta_v, 1, &w->meta_ref);
  }
  napi_value name;
  napi_create_string_utf8(env, "viaduct.udp", NAPI_AUTO_LENGTH, &name);
  if (napi_async_init(env, NULL, name, &w->async) != napi_ok ||
      napi_create_reference(env, on_batch, 1, &w->on_batch) != napi_ok) {
    free(w);
    return throw_last(env, "watch");
  }
  w->poll.data = w;
  int r = uv_poll_init(loop, &w->poll, fd);
  if (r == 0) r = uv_poll_start(&w->poll, UV_READABLE, on_readable);
  if (r != 0) {
    free(w);
    return throw_errno(env, "watch", -r);
  }
  w->next = inst->watchers;
  inst->watchers = w;
  return int_value(env, fd);
}

static napi_value Watch(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd;
  if (fd_args(env, info, 4, argv, &fd)) return NULL;
  return start_watcher(env, fd, argv[3], argv[1], argv[2]);
}

// ------------------------------------------------------------------------------------------
// Doorbells between threads: an eventfd per worker. A producer rings it (one write) only when
// the worker said it sleeps (a flag in shared memory, see ring.ts); the worker's loop wakes on
// it like on a socket and calls onRing(0). Cheaper than Atomics.notify + Atomics.waitAsync,
// which go through V8's task queue and a promise.

// bellCreate() -> fd
static napi_value BellCreate(napi_env env, napi_callback_info info) {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return throw_errno(env, "eventfd", errno);
  return int_value(env, fd);
}

// bellRing(fd)
static napi_value BellRing(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (fd_args(env, info, 1, argv, &fd)) return NULL;
  uint64_t one = 1;
  ssize_t r;
  do r = write(fd, &one, sizeof one);
  while (r < 0 && errno == EINTR);
  return NULL;  // EAGAIN: the counter is saturated, the worker is being woken anyway
}

// bellWatch(fd, onRing)
static napi_value BellWatch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  if (fd_args(env, info, 2, argv, &fd)) return NULL;
  return start_watcher(env, fd, argv[1], NULL, NULL);
}

// unwatch(fd): stops reading fd on this thread (the socket stays open).
static napi_value Unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (fd_args(env, info, 1, argv, &fd)) return NULL;
  Instance* inst = NULL;
  napi_get_instance_data(env, (void**)&inst);
  for (Watcher** p = &inst->watchers; *p; p = &(*p)->next) {
    if ((*p)->fd == fd) {
      Watcher* w = *p;
      *p = w->next;
      release(w, true);
      break;
    }
  }
  return NULL;
}

// A thread that ends (or is terminated) closes its watchers' handles before Node closes its
// loop (an open handle there aborts the process); the sockets stay open for other threads.
static void cleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  Instance* inst = arg;
  Watcher* w = inst->watchers;
  inst->watchers = NULL;
  if (!w && inst->closing == 0) {
    napi_remove_async_cleanup_hook(handle);
    return;
  }
  inst->cleanup = handle;
  while (w) {
    Watcher* next = w->next;
    release(w, false);
    w = next;
  }
}

static void free_instance(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Instance* inst = data;
  if (inst->closing == 0) free(inst);  // else on_closed still needs it (a few bytes at exit)
}

NAPI_MODULE_INIT() {
  Instance* inst = calloc(1, sizeof *inst);
  inst->send.port = -1;
  for (int i = 0; i < OUT_MAX; i++) {
    inst->out.msgs[i].msg_hdr.msg_iov = &inst->out.iov[i];
    inst->out.msgs[i].msg_hdr.msg_iovlen = 1;
    inst->out.msgs[i].msg_hdr.msg_name = &inst->out.to[i];
  }
  napi_set_instance_data(env, inst, free_instance, NULL);
  napi_add_async_cleanup_hook(env, cleanup, inst, NULL);
  napi_property_descriptor props[] = {
      {"open", NULL, Open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"localPort", NULL, LocalPort, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setReceiveBuffer", NULL, SetReceiveBuffer, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"countSendErrors", NULL, CountSendErrors, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watch", NULL, Watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unwatch", NULL, Unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bellCreate", NULL, BellCreate, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bellRing", NULL, BellRing, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bellWatch", NULL, BellWatch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_value batch, slot, meta, meta_text;
  napi_create_int32(env, BATCH, &batch);
  napi_create_int32(env, SLOT, &slot);
  napi_create_int32(env, META, &meta);
  napi_create_int32(env, META_TEXT, &meta_text);
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_set_named_property(env, exports, "BATCH", batch);
  napi_set_named_property(env, exports, "SLOT", slot);
  napi_set_named_property(env, exports, "META", meta);
  napi_set_named_property(env, exports, "META_TEXT", meta_text);
  return exports;
}
