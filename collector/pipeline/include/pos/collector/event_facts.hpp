#pragma once
// What the live sales view reads of one published event (EventFacts), how it gets it: from the
// event's JSON (EventReader), or from the object the batch processor already parsed
// (extract_event_facts), and the owned copy kept from publish to completion (EventDigest).

#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pos/protocol/result.hpp"

namespace pos::collector {

enum class EventKind { sale, return_event, stock_change };

/// One sale or return line as far as the KPIs need it.
struct SaleLineFacts {
  std::string_view sku;  ///< empty when the line has none (the stock book learns sku -> category)
  std::string_view category;
  std::int64_t qty = 0;
  std::int64_t unit_price_minor = 0;
  std::int64_t unit_cost_minor = 0;
  std::int64_t discount_minor = 0;
};

/// Where a stock change happened (SPEC `location`).
enum class StockLocation : std::uint8_t { floor, backroom, warehouse };

/// What the stock book reads of a stock_change event (SPEC): `sku`, `location`, `delta`, the
/// optional `on_hand_after`, and the optional extra `category` (empty when absent).
struct StockFacts {
  std::string_view sku;
  std::string_view category;
  StockLocation location = StockLocation::floor;
  std::int64_t delta = 0;
  std::optional<std::int64_t> on_hand_after;
};

/// What the live views read of one published event. The views point into whatever produced them
/// (an EventReader until its next read, an EventDigest, a JSON object). For stock changes
/// `kind`, `received_ms`, the ids present and `stock` are filled.
struct EventFacts {
  EventKind kind = EventKind::sale;
  std::string_view event_id;
  std::string_view store_id;
  std::string_view till_id;
  std::string_view pos_event_id;
  std::string_view occurred_at;
  std::string_view currency;
  std::string_view customer_type;
  std::int64_t occurred_ms = 0;
  std::int64_t received_ms = 0;  ///< the agent's `received_at`
  std::span<const SaleLineFacts> lines;
  StockFacts stock;  ///< stock_change only
  /// Published again on an operator's request (a replayed range): views that count must skip it.
  /// Set by the pipeline once replays exist; false until then.
  bool replay = false;
};

/// The agent's stamp of an event held apart from its object (protocol::StampedEvent).
struct StampFacts {
  std::string_view event_id;
  std::string_view store_id;
  std::string_view till_id;
  std::string_view received_at;
};

/// Extracts EventFacts from an event object. The stamp fields come from `stamp` when given, else
/// from the object (a published event carries them). Line facts are written to `lines` (cleared
/// first); the result views `event`, `stamp`'s strings and `lines`. Fails naming the field
/// (`received_at: missing or not RFC 3339`, `lines[2].qty: not an integer >= 1`, `delta: not a
/// non-zero integer`). Never throws except std::bad_alloc.
Result<EventFacts> extract_event_facts(const boost::json::object& event,
                                       std::vector<SaleLineFacts>& lines,
                                       const std::optional<StampFacts>& stamp = std::nullopt);

/// Extracts EventFacts from an event's published JSON (SPEC "Pub/Sub output"). Reuses its parse
/// buffer between calls; not thread-safe.
class EventReader {
 public:
  EventReader();
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  /// Parses `data`. Fails as extract_event_facts, or with `data: not a JSON object`. Never throws.
  Result<EventFacts> read(std::string_view data);

 private:
  std::array<unsigned char, std::size_t{16} * 1024> m_buffer{};
  boost::json::monotonic_resource m_resource;
  std::optional<boost::json::value> m_value;
  std::vector<SaleLineFacts> m_lines;
};

/// An owned copy of one event's facts: what the live view keeps of an event from its publish to
/// the publish's completion, instead of the event's JSON. All text in one buffer; movable (the
/// views are rebuilt by facts()). Thread-compatible.
class EventDigest {
 public:
  /// Copies `facts`. Throws only std::bad_alloc.
  explicit EventDigest(const EventFacts& facts);

  /// The facts, viewing this digest and `lines` (filled here); valid while both live unchanged.
  EventFacts facts(std::vector<SaleLineFacts>& lines) const;

  /// Heap bytes held (for flow-control accounting).
  std::size_t bytes() const noexcept;

 private:
  struct Span {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
  };
  struct Line {
    Span sku;
    Span category;
    std::int64_t qty = 0;
    std::int64_t unit_price_minor = 0;
    std::int64_t unit_cost_minor = 0;
    std::int64_t discount_minor = 0;
  };

  Span keep(std::string_view text);
  std::string_view view(Span span) const noexcept;

  std::string m_text;
  std::vector<Line> m_lines;
  EventKind m_kind = EventKind::sale;
  Span m_event_id, m_store_id, m_till_id, m_pos_event_id, m_occurred_at, m_currency,
      m_customer_type;
  std::int64_t m_occurred_ms = 0;
  std::int64_t m_received_ms = 0;
  Span m_stock_sku, m_stock_category;
  StockLocation m_stock_location = StockLocation::floor;
  bool m_replay = false;
  bool m_has_on_hand_after = false;
  std::int64_t m_stock_delta = 0;
  std::int64_t m_on_hand_after = 0;
};

}  // namespace pos::collector
