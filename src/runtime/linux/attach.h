// The attach channel between a container's monitor and a foreground client (`run -i`/`-t`): a
// SOCK_SEQPACKET Unix socket the monitor listens on in the container's runtime directory. Each
// packet is one frame: a type byte, then the payload. Client → monitor: stdin bytes, end of
// stdin, terminal size. Monitor → client: the container's stdout and stderr (with a terminal,
// everything is stdout). The monitor closes the connection when it exits, after the container's
// last output, so a client reads until end of file and then asks for the exit status.
// Also here: receiving the pty master the OCI runtime sends over `--console-socket`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"
#include "core/fs.h"

namespace zlayer::runtime::linux {

enum class AttachFrame : std::uint8_t {
  kStdin = 'i',     // bytes for the container's stdin (or its terminal)
  kStdinEof = 'e',  // the client's stdin ended: close the container's stdin (no-op with a tty)
  kResize = 'w',    // terminal size: payload "<rows> <cols>" (decimal)
  kStdout = 'o',    // container output
  kStderr = 'r',
};

// Largest payload per frame; longer data is sent as several frames.
inline constexpr std::size_t kMaxAttachPayload = 32 * 1024;

// A listening Unix socket of `type` (SOCK_SEQPACKET, SOCK_STREAM) at `path`, mode 0600, replacing
// a stale socket file. Paths longer than sun_path are reached through /proc/self/fd/<dir>/<name>.
// Errors: errno-mapped, naming the path.
[[nodiscard]] Result<UniqueFd> listen_unix(const std::filesystem::path& path, int type);
// Connects to the socket at `path`. Errors: kNotFound (no socket there), kUnavailable (nobody
// listening), errno-mapped others.
[[nodiscard]] Result<UniqueFd> connect_unix(const std::filesystem::path& path, int type);

// Sends `payload` as frames of `type` (one empty frame when payload is empty), blocking.
// Errors: errno-mapped (EPIPE when the peer is gone).
[[nodiscard]] Status send_frame(int fd, AttachFrame type, std::string_view payload = {});

struct Frame {
  AttachFrame type;
  std::string payload;
};
// Reads one frame. nullopt = the peer closed the connection. Errors: errno-mapped (EAGAIN on a
// non-blocking socket with nothing to read), kInvalidArgument (an empty packet).
[[nodiscard]] Result<std::optional<Frame>> read_frame(int fd);

// "<rows> <cols>" and back. parse_resize errors: kInvalidArgument.
[[nodiscard]] std::string resize_payload(std::uint16_t rows, std::uint16_t cols);
[[nodiscard]] Result<std::pair<std::uint16_t, std::uint16_t>> parse_resize(std::string_view text);

// Accepts one connection on the listening `console_socket` and receives the descriptor the OCI
// runtime sends with SCM_RIGHTS (runtime-spec "consoleSocket"). Errors: errno-mapped,
// kInternal when the message carries no descriptor.
[[nodiscard]] Result<UniqueFd> receive_console(int console_socket);

// The client side of an attached session: copies `in_fd` (when ≥ 0) into kStdin frames (its end
// as kStdinEof), output frames to out_fd/err_fd, and — when `winch_fd` (a signalfd for SIGWINCH)
// is ≥ 0 — the size of the terminal `tty_fd` as kResize frames, once at the start and on every
// signal. Returns when the monitor closes the socket. Errors: errno-mapped reads and writes.
struct AttachStreams {
  int in_fd = -1;
  int out_fd = 1;
  int err_fd = 2;
  int tty_fd = -1;
  int winch_fd = -1;
};
[[nodiscard]] Status relay_attach(int socket, const AttachStreams& streams);

}  // namespace zlayer::runtime::linux
