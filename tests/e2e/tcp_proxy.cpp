#include "tcp_proxy.hpp"

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <list>
#include <optional>
#include <stdexcept>
#include <thread>

namespace pos::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t max_connections = 256;
constexpr std::size_t buffer_bytes = std::size_t{64} * 1024;

// Both directions of one forwarded connection. Lives in Impl::m_sessions; only touched on the io
// thread.
struct Session {
  Session(tcp::socket c, tcp::socket u) : client(std::move(c)), upstream(std::move(u)) {}
  tcp::socket client;
  tcp::socket upstream;
  std::array<char, buffer_bytes> to_upstream{};
  std::array<char, buffer_bytes> to_client{};
  bool closed = false;
  int pending = 0;  // asynchronous operations not completed yet

  void close() {
    if (closed) {
      return;
    }
    closed = true;
    boost::system::error_code ignored;
    client.set_option(asio::socket_base::linger(true, 0), ignored);  // RST, not FIN
    client.close(ignored);
    upstream.close(ignored);
  }
};

}  // namespace

class TcpProxy::Impl {
 public:
  explicit Impl(std::uint16_t target_port)
      : m_target(asio::ip::make_address("127.0.0.1"), target_port),
        m_acceptor(m_io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    m_port = m_acceptor.local_endpoint().port();
    accept();
    m_thread = std::thread([this] { m_io.run(); });
  }

  ~Impl() {
    run_on_io([this] {
      boost::system::error_code ignored;
      m_acceptor.close(ignored);
      close_all();
    });
    m_io.stop();
    m_thread.join();
  }

  std::uint16_t port() const noexcept { return m_port; }
  std::uint64_t forwarded() const { return m_forwarded.load(); }

  void cut(CutMode mode) {
    run_on_io([this, mode] {
      m_mode = mode;
      if (mode == CutMode::refuse) {
        close_all();
      }
    });
  }

  void restore() {
    run_on_io([this] {
      m_mode.reset();
      close_all();
    });
  }

 private:
  template <typename F>
  void run_on_io(F&& f) {
    std::promise<void> done;
    asio::post(m_io, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  void close_all() {
    for (auto& session : m_sessions) {
      session.close();
    }
    m_sessions.remove_if([](const Session& s) { return s.closed && s.pending == 0; });
    boost::system::error_code ignored;
    for (auto& socket : m_held) {
      socket.close(ignored);
    }
    m_held.clear();
  }

  void accept() {
    m_acceptor.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) {
        return;
      }
      if (!ec) {
        on_accepted(std::move(socket));
      }
      accept();
    });
  }

  void on_accepted(tcp::socket socket) {
    boost::system::error_code ignored;
    if (m_mode == CutMode::refuse || m_sessions.size() + m_held.size() >= max_connections) {
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      return;
    }
    if (m_mode == CutMode::blackhole) {
      m_held.push_back(std::move(socket));
      return;
    }
    tcp::socket upstream(m_io);
    upstream.connect(m_target, ignored);
    if (ignored) {
      socket.set_option(asio::socket_base::linger(true, 0), ignored);
      socket.close(ignored);
      return;
    }
    ++m_forwarded;
    auto& session = m_sessions.emplace_back(std::move(socket), std::move(upstream));
    pump(session, session.client, session.upstream, session.to_upstream);
    pump(session, session.upstream, session.client, session.to_client);
  }

  // Copies from -> to until either side fails or the link is cut. While blackholed, bytes read
  // are dropped and the pump stops: the sockets stay open but nothing moves.
  void pump(Session& session, tcp::socket& from, tcp::socket& to,
            std::array<char, buffer_bytes>& buffer) {
    ++session.pending;
    from.async_read_some(asio::buffer(buffer), [this, &session, &from, &to, &buffer](
                                                   boost::system::error_code ec, std::size_t n) {
      --session.pending;
      if (ec || session.closed) {
        finish(session);
        return;
      }
      if (m_mode == CutMode::blackhole) {
        return;
      }
      ++session.pending;
      asio::async_write(
          to, asio::buffer(buffer.data(), n),
          [this, &session, &from, &to, &buffer](boost::system::error_code wec, std::size_t) {
            --session.pending;
            if (wec || session.closed) {
              finish(session);
              return;
            }
            pump(session, from, to, buffer);
          });
    });
  }

  void finish(Session& session) {
    session.close();
    if (session.pending == 0) {
      m_sessions.remove_if([&session](const Session& s) { return &s == &session; });
    }
  }

  asio::io_context m_io;
  tcp::endpoint m_target;
  tcp::acceptor m_acceptor;
  std::uint16_t m_port = 0;
  std::optional<CutMode> m_mode;
  std::list<Session> m_sessions;
  std::list<tcp::socket> m_held;
  std::atomic<std::uint64_t> m_forwarded{0};
  std::thread m_thread;
};

TcpProxy::TcpProxy(std::uint16_t target_port) : m_impl(std::make_unique<Impl>(target_port)) {}
TcpProxy::~TcpProxy() = default;

std::uint16_t TcpProxy::port() const noexcept {
  return m_impl->port();
}
std::string TcpProxy::host_port() const {
  return "127.0.0.1:" + std::to_string(port());
}
void TcpProxy::cut(CutMode mode) {
  m_impl->cut(mode);
}
void TcpProxy::restore() {
  m_impl->restore();
}
std::uint64_t TcpProxy::connections_forwarded() const {
  return m_impl->forwarded();
}

}  // namespace pos::test
