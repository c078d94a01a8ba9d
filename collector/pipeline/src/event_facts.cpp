#include "pos/collector/event_facts.hpp"

#include <boost/json/parse.hpp>
#include <utility>

#include "pos/collector/json_members.hpp"
#include "pos/protocol/event.hpp"

namespace pos::collector {
namespace {

namespace json = boost::json;

/// The stock fields of a stock_change event (the agent validated them against SPEC; checked
/// again here since the facts feed figures).
Status read_stock_facts(const json::object& event, StockFacts& out) {
  const auto sku = detail::string_member(event, "sku");
  if (!sku || sku->empty()) {
    return fail("sku: missing");
  }
  out.sku = *sku;
  const auto location = detail::string_member(event, "location");
  if (location == "floor") {
    out.location = StockLocation::floor;
  } else if (location == "backroom") {
    out.location = StockLocation::backroom;
  } else if (location == "warehouse") {
    out.location = StockLocation::warehouse;
  } else {
    return fail("location: missing or not floor, backroom or warehouse");
  }
  const auto delta = detail::int64_member(event, "delta");
  if (!delta || *delta == 0) {
    return fail("delta: not a non-zero integer");
  }
  out.delta = *delta;
  if (event.contains("on_hand_after")) {
    const auto after = detail::int64_member(event, "on_hand_after");
    if (!after || *after < 0) {
      return fail("on_hand_after: not an integer >= 0");
    }
    out.on_hand_after = *after;
  }
  out.category = detail::string_member(event, "category").value_or("");
  return {};
}

}  // namespace

EventReader::EventReader() : m_resource(m_buffer.data(), m_buffer.size()) {}

EventReader::~EventReader() = default;

Result<EventFacts> EventReader::read(std::string_view data) {
  m_value.reset();
  m_resource.release();
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 32;
  auto parsed = json::parse(data, ec, json::storage_ptr(&m_resource), options);
  if (ec || !parsed.is_object()) {
    return fail("data: not a JSON object");
  }
  m_value.emplace(std::move(parsed));
  return extract_event_facts(m_value->get_object(), m_lines);
}

Result<EventFacts> extract_event_facts(const json::object& event, std::vector<SaleLineFacts>& lines,
                                       const std::optional<StampFacts>& stamp) {
  EventFacts facts;
  const auto type = detail::string_member(event, "type");
  if (type == "sale") {
    facts.kind = EventKind::sale;
  } else if (type == "return") {
    facts.kind = EventKind::return_event;
  } else if (type == "stock_change") {
    facts.kind = EventKind::stock_change;
  } else {
    return fail("type: missing or not sale, return or stock_change");
  }
  const auto received_at = stamp ? std::optional<std::string_view>(stamp->received_at)
                                 : detail::string_member(event, "received_at");
  const auto received_ms = received_at ? protocol::parse_rfc3339_ms(*received_at) : std::nullopt;
  if (!received_ms) {
    return fail("received_at: missing or not RFC 3339");
  }
  facts.received_ms = *received_ms;
  if (stamp) {
    facts.event_id = stamp->event_id;
    facts.store_id = stamp->store_id;
    facts.till_id = stamp->till_id;
  } else {
    facts.event_id = detail::string_member(event, "event_id").value_or("");
    facts.store_id = detail::string_member(event, "store_id").value_or("");
    facts.till_id = detail::string_member(event, "till_id").value_or("");
  }
  facts.pos_event_id = detail::string_member(event, "pos_event_id").value_or("");
  if (facts.kind == EventKind::stock_change) {
    if (auto stock = read_stock_facts(event, facts.stock); !stock) {
      return fail(stock.error());
    }
    return facts;
  }
  if (facts.store_id.empty()) {
    return fail("store_id: missing");
  }
  const auto occurred_at = detail::string_member(event, "occurred_at");
  const auto occurred_ms = occurred_at ? protocol::parse_rfc3339_ms(*occurred_at) : std::nullopt;
  if (!occurred_ms) {
    return fail("occurred_at: missing or not RFC 3339");
  }
  facts.occurred_at = *occurred_at;
  facts.occurred_ms = *occurred_ms;
  const auto currency = detail::string_member(event, "currency");
  if (!currency || currency->empty()) {
    return fail("currency: missing");
  }
  facts.currency = *currency;
  const auto* customer = event.if_contains("customer");
  const auto customer_type = customer != nullptr && customer->is_object()
                                 ? detail::string_member(customer->get_object(), "type")
                                 : std::nullopt;
  if (!customer_type || customer_type->empty()) {
    return fail("customer.type: missing");
  }
  facts.customer_type = *customer_type;

  const auto* items = event.if_contains("lines");
  if (items == nullptr || !items->is_array() || items->get_array().empty()) {
    return fail("lines: missing or empty");
  }
  lines.clear();
  lines.reserve(items->get_array().size());
  for (std::size_t i = 0; i < items->get_array().size(); ++i) {
    const auto& value = items->get_array()[i];
    auto bad = [i](std::string_view field, std::string_view rule) {
      return fail("lines[" + std::to_string(i) + "]." + std::string(field) + ": " +
                  std::string(rule));
    };
    if (!value.is_object()) {
      return fail("lines[" + std::to_string(i) + "]: not an object");
    }
    const auto& line = value.get_object();
    SaleLineFacts out;
    out.sku = detail::string_member(line, "sku").value_or("");
    const auto category = detail::string_member(line, "category");
    if (!category) {
      return bad("category", "missing");
    }
    out.category = *category;
    const auto qty = detail::int64_member(line, "qty");
    if (!qty || *qty < 1) {
      return bad("qty", "not an integer >= 1");
    }
    out.qty = *qty;
    const std::pair<std::string_view, std::int64_t*> money[] = {
        {"unit_price_minor", &out.unit_price_minor},
        {"unit_cost_minor", &out.unit_cost_minor},
        {"discount_minor", &out.discount_minor}};
    for (const auto& [field, target] : money) {
      const auto amount = detail::int64_member(line, field);
      if (!amount || *amount < 0) {
        return bad(field, "not an integer >= 0");
      }
      *target = *amount;
    }
    lines.push_back(out);
  }
  facts.lines = lines;
  return facts;
}

EventDigest::EventDigest(const EventFacts& facts)
    : m_kind(facts.kind),
      m_occurred_ms(facts.occurred_ms),
      m_received_ms(facts.received_ms),
      m_stock_location(facts.stock.location),
      m_replay(facts.replay),
      m_has_on_hand_after(facts.stock.on_hand_after.has_value()),
      m_stock_delta(facts.stock.delta),
      m_on_hand_after(facts.stock.on_hand_after.value_or(0)) {
  std::size_t size = facts.event_id.size() + facts.store_id.size() + facts.till_id.size() +
                     facts.pos_event_id.size() + facts.occurred_at.size() + facts.currency.size() +
                     facts.customer_type.size() + facts.stock.sku.size() +
                     facts.stock.category.size();
  for (const auto& line : facts.lines) {
    size += line.sku.size() + line.category.size();
  }
  m_text.reserve(size);
  m_event_id = keep(facts.event_id);
  m_store_id = keep(facts.store_id);
  m_till_id = keep(facts.till_id);
  m_pos_event_id = keep(facts.pos_event_id);
  m_occurred_at = keep(facts.occurred_at);
  m_currency = keep(facts.currency);
  m_customer_type = keep(facts.customer_type);
  m_stock_sku = keep(facts.stock.sku);
  m_stock_category = keep(facts.stock.category);
  m_lines.reserve(facts.lines.size());
  for (const auto& line : facts.lines) {
    m_lines.push_back(Line{keep(line.sku), keep(line.category), line.qty, line.unit_price_minor,
                           line.unit_cost_minor, line.discount_minor});
  }
}

EventDigest::Span EventDigest::keep(std::string_view text) {
  const Span span{static_cast<std::uint32_t>(m_text.size()),
                  static_cast<std::uint32_t>(text.size())};
  m_text.append(text);
  return span;
}

std::string_view EventDigest::view(Span span) const noexcept {
  return std::string_view(m_text).substr(span.offset, span.size);
}

EventFacts EventDigest::facts(std::vector<SaleLineFacts>& lines) const {
  lines.clear();
  lines.reserve(m_lines.size());
  for (const auto& line : m_lines) {
    lines.push_back(SaleLineFacts{view(line.sku), view(line.category), line.qty,
                                  line.unit_price_minor, line.unit_cost_minor,
                                  line.discount_minor});
  }
  EventFacts facts;
  facts.kind = m_kind;
  facts.event_id = view(m_event_id);
  facts.store_id = view(m_store_id);
  facts.till_id = view(m_till_id);
  facts.pos_event_id = view(m_pos_event_id);
  facts.occurred_at = view(m_occurred_at);
  facts.currency = view(m_currency);
  facts.customer_type = view(m_customer_type);
  facts.occurred_ms = m_occurred_ms;
  facts.received_ms = m_received_ms;
  facts.lines = lines;
  facts.stock.sku = view(m_stock_sku);
  facts.stock.category = view(m_stock_category);
  facts.stock.location = m_stock_location;
  facts.stock.delta = m_stock_delta;
  if (m_has_on_hand_after) {
    facts.stock.on_hand_after = m_on_hand_after;
  }
  facts.replay = m_replay;
  return facts;
}

std::size_t EventDigest::bytes() const noexcept {
  return sizeof(EventDigest) + m_text.capacity() + m_lines.capacity() * sizeof(Line);
}

}  // namespace pos::collector
