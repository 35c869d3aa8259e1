// libcurl and libarchive, loaded when the image library first uses them instead of at process
// start. Linking them directly makes the dynamic loader map and relocate them and the ~40
// libraries they need (GnuTLS, Kerberos, LDAP, SSH, IDN, libxml2, ICU, …) in every zlayer-agent
// process: most of the start-up of a `zlayer-agent run prog.wasm` that never talks to a registry
// nor unpacks a layer (docs/wasm.md "Backend", bench/README.md). These definitions of the
// functions the registry client and the unpacker call resolve the real ones with dlopen/dlsym on
// first call; their code is unchanged. A missing library makes the entry points fail
// (curl_easy_init / archive_read_new return null, which the callers report), never a crash.
// Thread-safe: each library and symbol is resolved once (C++ static initialisation).
#define CURL_DISABLE_TYPECHECK  // the typecheck macros would rename curl_easy_setopt & co.
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace {

void* libcurl() {
  static void* handle = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  return handle;
}

void* libarchive() {
  static void* handle = ::dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
  return handle;
}

// The real function `name` of `library`, or nullptr when the library cannot be loaded.
template <class F>
F real(void* library, const char* name) {
  void* symbol = library != nullptr ? ::dlsym(library, name) : nullptr;
  F function = nullptr;
  static_assert(sizeof(function) == sizeof(symbol));
  std::memcpy(&function, &symbol, sizeof(function));  // POSIX: object → function pointer
  return function;
}

#define ZLAYER_REAL(library, name) static const auto fn = real<decltype(&::name)>(library(), #name)

}  // namespace

extern "C" {

CURLcode curl_global_init(long flags) {
  ZLAYER_REAL(libcurl, curl_global_init);
  return fn != nullptr ? fn(flags) : CURLE_FAILED_INIT;
}

CURL* curl_easy_init() {
  ZLAYER_REAL(libcurl, curl_easy_init);
  return fn != nullptr ? fn() : nullptr;
}

void curl_easy_cleanup(CURL* curl) {
  ZLAYER_REAL(libcurl, curl_easy_cleanup);
  if (fn != nullptr) fn(curl);
}

void curl_easy_reset(CURL* curl) {
  ZLAYER_REAL(libcurl, curl_easy_reset);
  if (fn != nullptr) fn(curl);
}

CURLcode curl_easy_perform(CURL* curl) {
  ZLAYER_REAL(libcurl, curl_easy_perform);
  return fn != nullptr ? fn(curl) : CURLE_FAILED_INIT;
}

// The one variadic argument's type follows from the option number's range (curl.h CURLOPTTYPE_*).
CURLcode curl_easy_setopt(CURL* curl, CURLoption option, ...) {
  ZLAYER_REAL(libcurl, curl_easy_setopt);
  if (fn == nullptr) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, option);
  CURLcode rc;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    rc = fn(curl, option, va_arg(ap, long));
  } else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB) {
    rc = fn(curl, option, va_arg(ap, curl_off_t));
  } else {
    rc = fn(curl, option, va_arg(ap, void*));  // object, function and blob pointers
  }
  va_end(ap);
  return rc;
}

CURLcode curl_easy_getinfo(CURL* curl, CURLINFO info, ...) {
  ZLAYER_REAL(libcurl, curl_easy_getinfo);
  if (fn == nullptr) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, info);
  CURLcode rc = fn(curl, info, va_arg(ap, void*));  // always a pointer to the result
  va_end(ap);
  return rc;
}

const char* curl_easy_strerror(CURLcode code) {
  ZLAYER_REAL(libcurl, curl_easy_strerror);
  return fn != nullptr ? fn(code) : "libcurl.so.4 could not be loaded";
}

void curl_free(void* p) {
  ZLAYER_REAL(libcurl, curl_free);
  if (fn != nullptr) fn(p);
}

CURLSH* curl_share_init() {
  ZLAYER_REAL(libcurl, curl_share_init);
  return fn != nullptr ? fn() : nullptr;
}

CURLSHcode curl_share_cleanup(CURLSH* share) {
  ZLAYER_REAL(libcurl, curl_share_cleanup);
  return fn != nullptr ? fn(share) : CURLSHE_NOT_BUILT_IN;
}

// CURLSHOPT_SHARE/UNSHARE take a curl_lock_data (an int after promotion); the rest pointers.
CURLSHcode curl_share_setopt(CURLSH* share, CURLSHoption option, ...) {
  ZLAYER_REAL(libcurl, curl_share_setopt);
  if (fn == nullptr) return CURLSHE_NOT_BUILT_IN;
  va_list ap;
  va_start(ap, option);
  CURLSHcode rc;
  if (option == CURLSHOPT_SHARE || option == CURLSHOPT_UNSHARE) {
    rc = fn(share, option, va_arg(ap, int));
  } else {
    rc = fn(share, option, va_arg(ap, void*));
  }
  va_end(ap);
  return rc;
}

curl_slist* curl_slist_append(curl_slist* list, const char* text) {
  ZLAYER_REAL(libcurl, curl_slist_append);
  return fn != nullptr ? fn(list, text) : nullptr;
}

void curl_slist_free_all(curl_slist* list) {
  ZLAYER_REAL(libcurl, curl_slist_free_all);
  if (fn != nullptr) fn(list);
}

CURLU* curl_url() {
  ZLAYER_REAL(libcurl, curl_url);
  return fn != nullptr ? fn() : nullptr;
}

void curl_url_cleanup(CURLU* url) {
  ZLAYER_REAL(libcurl, curl_url_cleanup);
  if (fn != nullptr) fn(url);
}

CURLUcode curl_url_get(CURLU* url, CURLUPart what, char** part, unsigned int flags) {
  ZLAYER_REAL(libcurl, curl_url_get);
  return fn != nullptr ? fn(url, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

CURLUcode curl_url_set(CURLU* url, CURLUPart what, const char* part, unsigned int flags) {
  ZLAYER_REAL(libcurl, curl_url_set);
  return fn != nullptr ? fn(url, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

// libarchive: only archive_read_new can be reached without an object it made, so it alone checks
// for a missing library.
struct archive* archive_read_new() {
  ZLAYER_REAL(libarchive, archive_read_new);
  return fn != nullptr ? fn() : nullptr;
}

void archive_set_error(struct archive* a, int error, const char* format, ...) {
  ZLAYER_REAL(libarchive, archive_set_error);
  char message[1024];
  va_list ap;
  va_start(ap, format);
  std::vsnprintf(message, sizeof message, format, ap);
  va_end(ap);
  fn(a, error, "%s", message);
}

time_t archive_entry_atime(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_atime);
  return fn(e);
}

int archive_entry_atime_is_set(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_atime_is_set);
  return fn(e);
}

long archive_entry_atime_nsec(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_atime_nsec);
  return fn(e);
}

__LA_MODE_T archive_entry_filetype(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_filetype);
  return fn(e);
}

la_int64_t archive_entry_gid(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_gid);
  return fn(e);
}

const char* archive_entry_hardlink(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_hardlink);
  return fn(e);
}

time_t archive_entry_mtime(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_mtime);
  return fn(e);
}

long archive_entry_mtime_nsec(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_mtime_nsec);
  return fn(e);
}

const char* archive_entry_pathname(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_pathname);
  return fn(e);
}

const char* archive_entry_pathname_utf8(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_pathname_utf8);
  return fn(e);
}

__LA_MODE_T archive_entry_perm(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_perm);
  return fn(e);
}

dev_t archive_entry_rdevmajor(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_rdevmajor);
  return fn(e);
}

dev_t archive_entry_rdevminor(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_rdevminor);
  return fn(e);
}

la_int64_t archive_entry_size(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_size);
  return fn(e);
}

int archive_entry_size_is_set(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_size_is_set);
  return fn(e);
}

const char* archive_entry_symlink(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_symlink);
  return fn(e);
}

la_int64_t archive_entry_uid(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_uid);
  return fn(e);
}

int archive_entry_xattr_next(struct archive_entry* e, const char** name, const void** value,
                             size_t* size) {
  ZLAYER_REAL(libarchive, archive_entry_xattr_next);
  return fn(e, name, value, size);
}

int archive_entry_xattr_reset(struct archive_entry* e) {
  ZLAYER_REAL(libarchive, archive_entry_xattr_reset);
  return fn(e);
}

const char* archive_error_string(struct archive* a) {
  ZLAYER_REAL(libarchive, archive_error_string);
  return fn(a);
}

int archive_filter_count(struct archive* a) {
  ZLAYER_REAL(libarchive, archive_filter_count);
  return fn(a);
}

int archive_read_data_block(struct archive* a, const void** buff, size_t* size,
                            la_int64_t* offset) {
  ZLAYER_REAL(libarchive, archive_read_data_block);
  return fn(a, buff, size, offset);
}

int archive_read_free(struct archive* a) {
  ZLAYER_REAL(libarchive, archive_read_free);
  return fn(a);
}

int archive_read_next_header(struct archive* a, struct archive_entry** entry) {
  ZLAYER_REAL(libarchive, archive_read_next_header);
  return fn(a, entry);
}

int archive_read_open(struct archive* a, void* client_data, archive_open_callback* open,
                      archive_read_callback* read, archive_close_callback* close) {
  ZLAYER_REAL(libarchive, archive_read_open);
  return fn(a, client_data, open, read, close);
}

int archive_read_open_fd(struct archive* a, int fd, size_t block_size) {
  ZLAYER_REAL(libarchive, archive_read_open_fd);
  return fn(a, fd, block_size);
}

int archive_read_support_filter_gzip(struct archive* a) {
  ZLAYER_REAL(libarchive, archive_read_support_filter_gzip);
  return fn(a);
}

int archive_read_support_filter_zstd(struct archive* a) {
  ZLAYER_REAL(libarchive, archive_read_support_filter_zstd);
  return fn(a);
}

int archive_read_support_format_raw(struct archive* a) {
  ZLAYER_REAL(libarchive, archive_read_support_format_raw);
  return fn(a);
}

int archive_read_support_format_tar(struct archive* a) {
  ZLAYER_REAL(libarchive, archive_read_support_format_tar);
  return fn(a);
}

}  // extern "C"
