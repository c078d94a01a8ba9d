// A TCP forwarder on a loopback port whose link can be cut and restored, to simulate an uplink
// outage between one process and the service it talks to (a till and the broker, the collector
// and Pub/Sub) without touching either side.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace pos::test {

// How a cut link behaves.
enum class CutMode {
  // Open connections are reset and new ones are accepted and closed at once: the peer learns
  // quickly (like a router answering with RST or ICMP unreachable).
  refuse,
  // Open connections stop carrying bytes (nothing is read or written, the sockets stay open) and
  // new connections are accepted but never forwarded: the peer learns only from its own timeouts
  // (keepalive, connect or request timeouts), like a dead uplink.
  blackhole,
};

// Forwards every connection made to 127.0.0.1:port() to 127.0.0.1:target_port, byte for byte,
// on its own thread (Boost.Asio). cut() and restore() are synchronous and thread-safe. Buffers
// are bounded (one 64 KiB buffer per direction and connection; at most 256 connections, more are
// closed at once). The destructor closes everything and joins the thread.
class TcpProxy {
 public:
  // Listens on a free loopback port. Throws std::runtime_error when no port can be bound.
  explicit TcpProxy(std::uint16_t target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::uint16_t port() const noexcept;
  // "127.0.0.1:PORT".
  std::string host_port() const;

  // Cuts the link as `mode` says; returns once existing connections are reset or frozen.
  void cut(CutMode mode = CutMode::refuse);
  // Closes every connection held during the cut and forwards new connections again.
  void restore();
  // Connections forwarded since construction (for checks that traffic really went through).
  std::uint64_t connections_forwarded() const;

 private:
  class Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace pos::test
