// PowerCutFs: a powercutfs child process mounted for a test, with its control channel. See
// docs/testing.md, "The power-cut filesystem", for what a cut loses and what it keeps.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace pos::test {

class ChildProcess;

// A mounted power-cut filesystem (powercutfs child process). Not thread-safe.
class PowerCutFs {
 public:
  enum class CutMode { clean, torn, reorder };
  // Mounts powercutfs at mount_dir over backing_dir (both created if missing); waits until the
  // mount is live. Throws std::runtime_error on failure (never skips).
  PowerCutFs(std::filesystem::path backing_dir, std::filesystem::path mount_dir);
  ~PowerCutFs();  // unmounts, stops the child by pid
  PowerCutFs(const PowerCutFs&) = delete;
  PowerCutFs& operator=(const PowerCutFs&) = delete;
  const std::filesystem::path& mount_dir() const;
  // Power cut: drops everything not made durable, then remounts. Every process with files open on
  // the mount must have been killed (SIGKILL) before. Throws on failure.
  void cut(CutMode mode = CutMode::clean);
  // cut(CutMode::reorder) with a given seed (the one a previous cut printed, to replay it).
  void cut_reorder(std::uint64_t seed);
  void hold_fsync(bool on);  // see control command hold-fsync
  std::string stats_json();  // control command stats

  // Sends one control command line (without newline) and returns the answer line (`ok ...` or
  // `error ...`). Throws std::runtime_error when the channel fails or times out.
  std::string command(const std::string& line);
  // The control answer of the last cut (e.g. "ok cut reorder seed=42 ..."), empty before one.
  const std::string& last_cut_answer() const { return m_last_cut_answer; }
  // The powercutfs log (all mounts of this object so far), for failure messages.
  std::string log_text() const;

 private:
  void mount();
  void unmount();
  void cut_with(const std::string& line);

  std::filesystem::path m_backing_dir;
  std::filesystem::path m_mount_dir;
  std::filesystem::path m_run_dir;  // control socket and log
  std::filesystem::path m_socket;
  std::unique_ptr<ChildProcess> m_child;
  std::string m_last_cut_answer;
};

// True when path is the mount point of a mounted filesystem (per /proc/self/mountinfo).
bool is_mount_point(const std::filesystem::path& path);

}  // namespace pos::test
