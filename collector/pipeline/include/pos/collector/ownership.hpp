#pragma once
// Which tills this collector may publish when several run at once ([marks] type = "postgres").
// Tills are hashed into a fixed number of partitions; each partition is leased to one collector
// at a time in PostgreSQL, with a fencing token that grows at every change of owner and is
// checked by the mark commit. See docs/collector.md, "Several collectors".

#include <cstdint>
#include <optional>
#include <string_view>

namespace pos::collector {

/// Partitions of the till space. Fixed: every collector of a cluster must hash alike.
inline constexpr std::uint32_t partition_count = 128;

/// The partition of a till: protocol::till_hash (FNV-1a 64 of "{store}/{till}") modulo
/// partition_count. Stable across builds and platforms.
std::uint32_t partition_of(std::string_view store_id, std::string_view till_id) noexcept;

/// The lease a publish and its mark commit are made under. token 0: no lease (single collector).
struct Fence {
  std::uint32_t partition = 0;
  std::uint64_t token = 0;
  friend bool operator==(const Fence&, const Fence&) = default;
};

/// The seam between the pipeline and whatever decides ownership (LeaseManager). Called on the
/// io executor only.
class Ownership {
 public:
  virtual ~Ownership() = default;
  /// The lease under which this collector may publish the till now, or nullopt when it must not
  /// (another collector owns it, nobody does yet, or our lease may have run out).
  virtual std::optional<Fence> fence_for(std::string_view store_id,
                                         std::string_view till_id) const = 0;
};

}  // namespace pos::collector
