#include "runtime/linux/attach.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace zlayer::runtime::linux {
namespace {

namespace fs = std::filesystem;

// sockaddr_un for `path`; a path too long for sun_path goes through an O_PATH descriptor of its
// directory, which `dir` keeps open until the bind/connect is done.
Result<std::pair<sockaddr_un, socklen_t>> unix_address(const fs::path& path, UniqueFd& dir) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::string text = path.string();
  if (text.size() >= sizeof address.sun_path) {
    dir.reset(::open(path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid())
      return sys_error(fmt::format("opening {}", path.parent_path().string()), errno);
    text = fmt::format("/proc/self/fd/{}/{}", dir.get(), path.filename().string());
    if (text.size() >= sizeof address.sun_path) {
      return errorf(Errc::kInvalidArgument, "socket name {} is too long", path.string());
    }
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return std::pair{address,
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + text.size() + 1)};
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return sys_error("writing attached output", errno);
    data.remove_prefix(static_cast<std::size_t>(w));
  }
  return {};
}

}  // namespace

Result<UniqueFd> listen_unix(const fs::path& path, int type) {
  UniqueFd dir;
  ZLAYER_TRY(address, unix_address(path, dir));
  UniqueFd socket(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!socket.valid()) return sys_error("socket(AF_UNIX)", errno);
  std::error_code ignored;
  fs::remove(path, ignored);
  if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&address.first), address.second) !=
      0) {
    return sys_error(fmt::format("binding {}", path.string()), errno);
  }
  ::chmod(path.c_str(), 0600);
  if (::listen(socket.get(), 16) != 0)
    return sys_error(fmt::format("listen on {}", path.string()), errno);
  return socket;
}

Result<UniqueFd> connect_unix(const fs::path& path, int type) {
  UniqueFd dir;
  ZLAYER_TRY(address, unix_address(path, dir));
  UniqueFd socket(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  if (!socket.valid()) return sys_error("socket(AF_UNIX)", errno);
  while (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address.first),
                   address.second) != 0) {
    if (errno == EINTR) continue;
    if (errno == ENOENT) return errorf(Errc::kNotFound, "no socket at {}", path.string());
    if (errno == ECONNREFUSED) {
      return errorf(Errc::kUnavailable, "nobody listens on {}", path.string());
    }
    return sys_error(fmt::format("connecting to {}", path.string()), errno);
  }
  return socket;
}

Status send_frame(int fd, AttachFrame type, std::string_view payload) {
  do {
    std::string_view part = payload.substr(0, kMaxAttachPayload);
    payload.remove_prefix(part.size());
    char packet[kMaxAttachPayload + 1];
    packet[0] = static_cast<char>(type);
    std::memcpy(packet + 1, part.data(), part.size());
    while (::send(fd, packet, part.size() + 1, MSG_NOSIGNAL) < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        // A non-blocking socket whose peer reads slowly: wait for room rather than drop output.
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) return sys_error("poll (attach)", errno);
        continue;
      }
      return sys_error("sending an attach frame", errno);
    }
  } while (!payload.empty());
  return {};
}

Result<std::optional<Frame>> read_frame(int fd) {
  char packet[kMaxAttachPayload + 1];
  ssize_t r;
  while ((r = ::recv(fd, packet, sizeof packet, 0)) < 0 && errno == EINTR) {
  }
  if (r < 0) return sys_error("reading an attach frame", errno);
  if (r == 0) return std::optional<Frame>();
  return std::optional<Frame>(Frame{static_cast<AttachFrame>(packet[0]),
                                    std::string(packet + 1, static_cast<std::size_t>(r - 1))});
}

std::string resize_payload(std::uint16_t rows, std::uint16_t cols) {
  return fmt::format("{} {}", rows, cols);
}

Result<std::pair<std::uint16_t, std::uint16_t>> parse_resize(std::string_view text) {
  std::uint16_t rows = 0, cols = 0;
  auto space = text.find(' ');
  auto bad = [&] {
    return errorf(Errc::kInvalidArgument, "terminal size \"{}\" is not \"<rows> <cols>\"", text);
  };
  if (space == std::string_view::npos) return bad();
  auto r1 = std::from_chars(text.data(), text.data() + space, rows);
  auto r2 = std::from_chars(text.data() + space + 1, text.data() + text.size(), cols);
  if (r1.ec != std::errc() || r1.ptr != text.data() + space || r2.ec != std::errc() ||
      r2.ptr != text.data() + text.size()) {
    return bad();
  }
  return std::pair{rows, cols};
}

Result<UniqueFd> receive_console(int console_socket) {
  UniqueFd connection;
  while (!connection.valid()) {
    connection.reset(::accept4(console_socket, nullptr, nullptr, SOCK_CLOEXEC));
    if (!connection.valid() && errno != EINTR)
      return sys_error("accepting the console socket", errno);
  }
  char data[256];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t r;
  while ((r = ::recvmsg(connection.get(), &message, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (r < 0) return sys_error("receiving the console descriptor", errno);
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return UniqueFd(fd);
    }
  }
  return make_error(Errc::kInternal,
                    "the OCI runtime sent no terminal descriptor on the console socket");
}

Status relay_attach(int socket, const AttachStreams& streams) {
  auto send_size = [&]() -> Status {
    winsize size{};
    if (streams.tty_fd < 0 || ::ioctl(streams.tty_fd, TIOCGWINSZ, &size) != 0) return {};
    return send_frame(socket, AttachFrame::kResize, resize_payload(size.ws_row, size.ws_col));
  };
  if (streams.winch_fd >= 0) ZLAYER_CHECK(send_size());
  bool input_open = streams.in_fd >= 0;
  while (true) {
    pollfd fds[3];
    nfds_t n = 0;
    fds[n++] = {socket, POLLIN, 0};
    const nfds_t input_slot = n;
    if (input_open) fds[n++] = {streams.in_fd, POLLIN, 0};
    const nfds_t winch_slot = n;
    if (streams.winch_fd >= 0) fds[n++] = {streams.winch_fd, POLLIN, 0};
    if (::poll(fds, n, -1) < 0) {
      if (errno == EINTR) continue;
      return sys_error("poll (attach)", errno);
    }
    if (fds[0].revents != 0) {
      ZLAYER_TRY(frame, read_frame(socket));
      if (!frame) return {};  // the monitor has finished
      int target = frame->type == AttachFrame::kStderr ? streams.err_fd : streams.out_fd;
      if (frame->type == AttachFrame::kStdout || frame->type == AttachFrame::kStderr) {
        ZLAYER_CHECK(write_all(target, frame->payload));
      }
    }
    if (input_open && fds[input_slot].revents != 0) {
      char buf[8192];
      ssize_t r = ::read(streams.in_fd, buf, sizeof buf);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r <= 0) {
        input_open = false;
        // The container may already be gone: its output is still to be read, so go on.
        (void)send_frame(socket, AttachFrame::kStdinEof);
      } else {
        (void)send_frame(socket, AttachFrame::kStdin,
                         std::string_view(buf, static_cast<std::size_t>(r)));
      }
    }
    if (streams.winch_fd >= 0 && fds[winch_slot].revents != 0) {
      signalfd_siginfo info;
      while (::read(streams.winch_fd, &info, sizeof info) > 0) {
      }
      (void)send_size();
    }
  }
}

}  // namespace zlayer::runtime::linux
