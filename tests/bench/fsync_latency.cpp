// fsync latency of a directory's disk: appends BYTES bytes and calls fdatasync, COUNT times, and
// prints the latency distribution of each write+fdatasync. This is the floor under every durable
// answer of the agent (one WAL fsync per group commit) and of the collector's file sink.
//
//   fsync_latency [--dir DIR] [--count N] [--bytes B]     (defaults: /tmp, 500, 4096)
//
// The last line is machine-readable: RESULT dir=... count=... p50_ms=... p90_ms=... p99_ms=...
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

[[noreturn]] void usage(const std::string& error) {
  std::fprintf(stderr,
               "fsync_latency: %s\nusage: fsync_latency [--dir DIR] [--count N] [--bytes B]\n",
               error.c_str());
  std::exit(2);
}

std::size_t parse_size(std::string_view flag, std::string_view text) {
  std::size_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value == 0) {
    usage(std::string(flag) + ": expected a positive integer");
  }
  return value;
}

double percentile(const std::vector<double>& sorted, double p) {
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp";
  std::size_t count = 500;
  std::size_t bytes = 4096;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 >= argc) {
      usage(std::string(flag) + ": missing value");
    }
    const std::string_view value = argv[++i];
    if (flag == "--dir") {
      dir = value;
    } else if (flag == "--count") {
      count = parse_size(flag, value);
    } else if (flag == "--bytes") {
      bytes = parse_size(flag, value);
    } else {
      usage("unknown option " + std::string(flag));
    }
  }
  std::string path = dir + "/fsync_latency_XXXXXX";
  const int fd = ::mkstemp(path.data());
  if (fd < 0) {
    std::fprintf(stderr, "fsync_latency: mkstemp in %s: %s\n", dir.c_str(), std::strerror(errno));
    return 1;
  }
  ::unlink(path.c_str());
  const std::vector<char> block(bytes, 'x');
  std::vector<double> ms;
  ms.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto start = std::chrono::steady_clock::now();
    std::size_t done = 0;
    while (done < block.size()) {
      const ssize_t n = ::write(fd, block.data() + done, block.size() - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0) {
        std::fprintf(stderr, "fsync_latency: write: %s\n", std::strerror(errno));
        return 1;
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd) != 0) {
      std::fprintf(stderr, "fsync_latency: fdatasync: %s\n", std::strerror(errno));
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  ::close(fd);
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (const double v : ms) {
    sum += v;
  }
  std::printf(
      "RESULT dir=%s count=%zu bytes=%zu mean_ms=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
      "max_ms=%.3f\n",
      dir.c_str(), count, bytes, sum / static_cast<double>(count), percentile(ms, 0.5),
      percentile(ms, 0.9), percentile(ms, 0.99), ms.back());
  return 0;
}
