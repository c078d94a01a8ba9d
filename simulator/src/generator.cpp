#include "pos/simulator/generator.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string_view>

namespace pos::simulator {

namespace {

constexpr UnixMs k_never = std::numeric_limits<UnixMs>::max();
constexpr std::size_t k_recent_sales = 256;  // per till, candidates for returns
constexpr std::size_t k_known_customers = 20'000;
constexpr std::uint64_t k_existing_customers = 2'000;

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_number(std::string& out, std::uint64_t v, int width) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  for (auto n = static_cast<int>(end - buf); n < width; ++n) {
    out.push_back('0');
  }
  out.append(buf, end);
}

// "key":"value" (values are ids and names of our own, never needing escapes).
void append_string_field(std::string& out, std::string_view key, std::string_view value) {
  out.push_back('"');
  out.append(key);
  out.append("\":\"");
  out.append(value);
  out.push_back('"');
}

void append_int_field(std::string& out, std::string_view key, std::int64_t value) {
  out.push_back('"');
  out.append(key);
  out.append("\":");
  append_int(out, value);
}

struct Line {
  std::size_t sku = 0;
  std::int64_t qty = 0;
  std::int64_t discount = 0;
};

struct SaleRecord {
  std::string pos_event_id;
  std::uint64_t customer = 0;  // 0: guest
  std::size_t payment = 0;
  std::vector<Line> lines;
};

struct TillState {
  std::string till_id;
  std::uint64_t receipts = 0;
  std::uint64_t movements = 0;
  UnixMs last = std::numeric_limits<UnixMs>::min();
  std::deque<SaleRecord> recent;
};

}  // namespace

// --- TransferSchedule ---

TransferSchedule::TransferSchedule(const Catalogue& catalogue, const TrafficModel& model,
                                   std::size_t store, const std::string& store_id,
                                   std::uint64_t seed, UnixMs start)
    : m_catalogue(&catalogue),
      m_model(&model),
      m_store(store),
      m_store_id(store_id),
      m_rng(derive_seed(seed, store_id + "/transfers")),
      m_clock_ms(static_cast<double>(start)) {
  pop();
}

void TransferSchedule::pop() {
  const double bound = m_model->activity_rate_bound(m_store) * MixConstants::transfers_per_checkout;
  m_next = Transfer{};
  if (bound <= 0) {
    m_next.dispatched_at = k_never;
    m_next.arrives_at = k_never;
    return;
  }
  for (;;) {
    m_clock_ms += m_rng.exponential(bound) * 1000.0;
    const auto t = static_cast<UnixMs>(m_clock_ms);
    if (!m_model->is_open(t)) {
      m_clock_ms = static_cast<double>(m_model->next_open(t));
      continue;
    }
    if (m_rng.unit() * bound <
        m_model->activity_rate(m_store, t) * MixConstants::transfers_per_checkout) {
      m_next.dispatched_at = t;
      break;
    }
  }
  UnixMs arrives = m_next.dispatched_at + m_model->transfer_delay_ms();
  if (!m_model->is_open(arrives)) {
    arrives = m_model->next_open(arrives) + std::int64_t{15} * 60'000;  // unloaded after opening
  }
  m_next.arrives_at = arrives;
  m_next.store_id = m_store_id;
  m_next.transfer_id = "TR-" + m_store_id + "-";
  append_number(m_next.transfer_id, ++m_count, 6);
  const auto lines =
      m_rng.between(MixConstants::min_transfer_lines, MixConstants::max_transfer_lines);
  for (std::int64_t i = 0; i < lines; ++i) {
    const std::size_t sku = m_catalogue->pick(m_rng);
    const std::int64_t qty = 4 + static_cast<std::int64_t>(m_rng.below(9));  // 4..12 units
    const auto same = std::find_if(m_next.lines.begin(), m_next.lines.end(),
                                   [&](const auto& l) { return l.first == sku; });
    if (same != m_next.lines.end()) {
      same->second += qty;
    } else {
      m_next.lines.emplace_back(sku, qty);
    }
  }
}

// --- ActivityClock ---

UnixMs ActivityClock::advance(const TrafficModel& model, std::size_t store) {
  const double bound = model.activity_rate_bound(store) * m_factor;
  if (bound <= 0) {
    return k_never;
  }
  for (;;) {
    m_clock_ms += m_rng.exponential(bound) * 1000.0;
    const auto t = static_cast<UnixMs>(m_clock_ms);
    if (!model.is_open(t)) {
      m_clock_ms = static_cast<double>(model.next_open(t));
      continue;
    }
    if (m_rng.unit() * bound < model.activity_rate(store, t) * m_factor) {
      return t;
    }
  }
}

// --- StoreGenerator ---

struct StoreGenerator::State {
  State(const Layout& layout, const Catalogue& catalogue, const TrafficModel& model,
        std::size_t store_index, std::uint64_t seed, UnixMs start)
      : catalogue(catalogue),
        model(model),
        store(store_index),
        store_id(layout.stores()[store_index].store_id),
        warehouse(layout.stores()[store_index].warehouse),
        size(layout.stores()[store_index].size),
        rng(derive_seed(seed, store_id + "/events")),
        stock_seed(derive_seed(seed, store_id + "/stock")),
        activity(derive_seed(seed, store_id + "/activity"), start, 1.0),
        misc(derive_seed(seed, store_id + "/misc"), start,
             warehouse ? 0.0 : MixConstants::misc_per_checkout),
        on_hand(catalogue.skus().size(), -1),
        next_customer(k_existing_customers + 1) {
    for (int t = 0; t < layout.stores()[store_index].tills; ++t) {
      tills.push_back(TillState{till_id(t), 0, 0, std::numeric_limits<UnixMs>::min(), {}});
    }
    if (warehouse) {
      for (std::size_t s = 0; s < layout.stores().size(); ++s) {
        if (!layout.stores()[s].warehouse) {
          schedules.emplace_back(catalogue, model, s, layout.stores()[s].store_id, seed, start);
        }
      }
    } else {
      schedules.emplace_back(catalogue, model, store, store_id, seed, start);
    }
    next_activity = activity.advance(model, store);
    next_misc = warehouse ? k_never : misc.advance(model, store);
  }

  const Catalogue& catalogue;
  const TrafficModel& model;
  std::size_t store;
  std::string store_id;
  bool warehouse;
  StoreSize size;
  Rng rng;
  std::uint64_t stock_seed;
  ActivityClock activity;
  ActivityClock misc;
  std::vector<TransferSchedule> schedules;
  std::vector<TillState> tills;
  std::vector<std::int64_t> on_hand;  // per SKU; -1: not looked at yet
  std::vector<std::uint64_t> known_customers;
  std::uint64_t next_customer;
  UnixMs next_activity = k_never;
  UnixMs next_misc = k_never;
  std::deque<GeneratedEvent> ready;

  // Stock at the start of the simulation, a pure function of the seed, store and SKU.
  std::int64_t& stock(std::size_t sku) {
    auto& v = on_hand[sku];
    if (v < 0) {
      const std::uint64_t h = mix64(stock_seed ^ mix64(sku));
      if (warehouse) {
        v = 150 + static_cast<std::int64_t>(h % 251);
      } else {
        const std::int64_t base = size == StoreSize::small ? 6 : size == StoreSize::medium ? 9 : 12;
        v = base + static_cast<std::int64_t>(h % static_cast<std::uint64_t>(base + 1));
      }
    }
    return v;
  }

  std::string customer_id(std::uint64_t n) const {
    std::string id = "C-" + store_id + "-";
    append_number(id, n, 6);
    return id;
  }

  // Starts an event on `till` at `t` (kept after the till's previous event): fills the common
  // fields and returns the event with its JSON object still open.
  GeneratedEvent begin(int till, UnixMs t, EventKind kind) {
    TillState& state = tills[static_cast<std::size_t>(till)];
    t = std::max(t, state.last + 1);
    state.last = t;
    GeneratedEvent e;
    e.occurred_at = t;
    e.store = store;
    e.till = till;
    e.kind = kind;
    e.pos_event_id =
        store_id + "-" + state.till_id + (kind == EventKind::stock_change ? "-M" : "-R");
    append_number(e.pos_event_id,
                  kind == EventKind::stock_change ? ++state.movements : ++state.receipts, 6);
    std::string& j = e.json;
    j.reserve(kind == EventKind::stock_change ? 320 : 640);
    j.append(R"({"type":")");
    j.append(kind == EventKind::sale           ? "sale"
             : kind == EventKind::return_event ? "return"
                                               : "stock_change");
    j.append("\",");
    append_string_field(j, "pos_event_id", e.pos_event_id);
    j.append(R"(,"occurred_at":")");
    append_local_time(j, t);
    j.append("\",");
    append_string_field(j, "store_id", store_id);
    j.push_back(',');
    append_string_field(j, "till_id", state.till_id);
    return e;
  }

  // A stock_change on `till`; extra fields (`"key":"value"` pairs) are appended as given.
  void movement(int till, UnixMs t, std::size_t sku, std::string_view location, std::int64_t delta,
                std::string_view reason, std::string_view extra) {
    std::int64_t& level = stock(sku);
    level += delta;
    GeneratedEvent e = begin(till, t, EventKind::stock_change);
    std::string& j = e.json;
    j.push_back(',');
    append_string_field(j, "sku", catalogue.skus()[sku].id);
    j.push_back(',');
    append_string_field(j, "location", location);
    j.push_back(',');
    append_int_field(j, "delta", delta);
    j.push_back(',');
    append_string_field(j, "reason", reason);
    j.push_back(',');
    append_int_field(j, "on_hand_after", level);
    j.append(extra);
    j.push_back('}');
    ready.push_back(std::move(e));
  }

  void append_receipt_body(std::string& j, std::uint64_t customer, bool is_new,
                           const std::vector<Line>& lines, std::size_t payment) const {
    j.append(R"(,"currency":"IDR","customer":{"id":)");
    if (customer == 0) {
      j.append(R"(null,"type":"guest"})");
    } else {
      j.push_back('"');
      j.append(customer_id(customer));
      j.append(is_new ? R"(","type":"new"})" : R"(","type":"returning"})");
    }
    j.append(",\"lines\":[");
    for (std::size_t i = 0; i < lines.size(); ++i) {
      const Line& line = lines[i];
      const Sku& sku = catalogue.skus()[line.sku];
      j.append(i == 0 ? "{" : ",{");
      append_string_field(j, "sku", sku.id);
      j.push_back(',');
      append_string_field(j, "category", catalogue.categories()[sku.category].name);
      j.push_back(',');
      append_int_field(j, "qty", line.qty);
      j.push_back(',');
      append_int_field(j, "unit_price_minor", sku.price);
      j.push_back(',');
      append_int_field(j, "unit_cost_minor", sku.cost);
      j.push_back(',');
      append_int_field(j, "discount_minor", line.discount);
      j.push_back('}');
    }
    j.append(R"(],"payment":{"method":")");
    j.append(MixConstants::payment_methods[payment]);
    j.append("\"}");
  }

  std::uint64_t pick_customer(bool& is_new) {
    is_new = false;
    const double u = rng.unit();
    if (u < 0.30) {
      return 0;  // guest
    }
    if (u < 0.48) {
      is_new = true;
      const std::uint64_t id = next_customer++;
      if (known_customers.size() < k_known_customers) {
        known_customers.push_back(id);
      } else {
        known_customers[rng.below(k_known_customers)] = id;
      }
      return id;
    }
    // Returning: the chain's loyal existing customers and the ones it won here, loyal ones more
    // often.
    const std::uint64_t pool = k_existing_customers + known_customers.size();
    const double v = rng.unit();
    const auto i = static_cast<std::uint64_t>(v * v * static_cast<double>(pool));
    return i < k_existing_customers ? i + 1 : known_customers[i - k_existing_customers];
  }

  void sale(int till, UnixMs t) {
    std::vector<Line> lines;
    const std::size_t count = pick_weighted(rng, MixConstants::line_count_weights) + 1;
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t sku = 0;
      bool found = false;
      for (int attempt = 0; attempt < 8 && !found; ++attempt) {
        sku = catalogue.pick(rng);
        found = stock(sku) > 0 && std::none_of(lines.begin(), lines.end(),
                                               [&](const Line& l) { return l.sku == sku; });
      }
      if (!found) {
        continue;  // sold out: the shopper leaves it
      }
      const double q = rng.unit();
      std::int64_t qty = q < 0.88 ? 1 : q < 0.97 ? 2 : 3;
      qty = std::min(qty, stock(sku));
      std::int64_t discount = 0;
      if (rng.chance(0.12)) {
        static constexpr std::array<std::int64_t, 4> percent = {10, 20, 30, 50};
        discount = qty * catalogue.skus()[sku].price * percent[rng.below(percent.size())] / 100 /
                   1000 * 1000;
      }
      lines.push_back({sku, qty, discount});
    }
    if (lines.empty()) {
      return;
    }
    bool is_new = false;
    const std::uint64_t customer = pick_customer(is_new);
    const std::size_t payment = pick_weighted(rng, MixConstants::payment_weights);
    GeneratedEvent e = begin(till, t, EventKind::sale);
    append_receipt_body(e.json, customer, is_new, lines, payment);
    e.json.push_back('}');
    const UnixMs at = e.occurred_at;
    const std::string ref = R"(,"ref_pos_event_id":")" + e.pos_event_id + "\"";
    SaleRecord record{e.pos_event_id, customer, payment, lines};
    ready.push_back(std::move(e));
    for (std::size_t i = 0; i < lines.size(); ++i) {
      movement(till, at + 1 + static_cast<UnixMs>(i), lines[i].sku, "floor", -lines[i].qty, "sale",
               ref);
    }
    auto& recent = tills[static_cast<std::size_t>(till)].recent;
    recent.push_back(std::move(record));
    if (recent.size() > k_recent_sales) {
      recent.pop_front();
    }
  }

  void return_items(int till, UnixMs t) {
    auto& recent = tills[static_cast<std::size_t>(till)].recent;
    std::vector<Line> lines;
    std::uint64_t customer = 0;
    std::size_t payment = 2;  // cash back without a receipt
    std::string original;
    if (!recent.empty()) {
      // Most returns come back within days: prefer the later sales.
      const double v = rng.unit();
      const auto back = static_cast<std::size_t>(v * v * static_cast<double>(recent.size()));
      const auto it = recent.end() - 1 - static_cast<std::ptrdiff_t>(back);
      const Line& sold = it->lines[rng.below(it->lines.size())];
      const std::int64_t qty =
          1 + static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(sold.qty)));
      lines.push_back({sold.sku, qty, sold.discount * qty / sold.qty});
      customer = it->customer;
      payment = it->payment;
      original = it->pos_event_id;
      recent.erase(it);
    } else {
      lines.push_back({catalogue.pick(rng), 1, 0});
    }
    GeneratedEvent e = begin(till, t, EventKind::return_event);
    append_receipt_body(e.json, customer, false, lines, payment);
    if (!original.empty()) {
      e.json.push_back(',');
      append_string_field(e.json, "original_pos_event_id", original);
    }
    e.json.push_back('}');
    const UnixMs at = e.occurred_at;
    const std::string ref = R"(,"ref_pos_event_id":")" + e.pos_event_id + "\"";
    ready.push_back(std::move(e));
    movement(till, at + 1, lines[0].sku, "floor", lines[0].qty, "return", ref);
  }

  void checkout(UnixMs t) {
    const int till = static_cast<int>(rng.below(tills.size()));
    if (rng.chance(MixConstants::return_share)) {
      return_items(till, t);
    } else {
      sale(till, t);
    }
  }

  // Stock corrections: an adjustment, a damaged item written off, or a recount.
  void correction(UnixMs t, std::string_view location) {
    const std::size_t sku = catalogue.pick(rng);
    const std::int64_t level = stock(sku);
    const double u = rng.unit();
    std::int64_t delta = 0;
    std::string_view reason;
    if (u < 0.4) {
      reason = "adjustment";
      delta = rng.chance(0.5) ? -rng.between(1, 3) : rng.between(1, 3);
    } else if (u < 0.7) {
      reason = "damage";
      delta = -1;
    } else {
      reason = "count";
      delta = rng.chance(0.5) ? -rng.between(1, 2) : rng.between(1, 2);
    }
    if (level + delta < 0) {
      delta = -delta;  // cannot lose what is not there: the correction found some instead
      if (reason == "damage") {
        reason = "count";
      }
    }
    movement(0, t, sku, location, delta, reason, "");
  }

  void supplier_receipt(UnixMs t) {
    const auto lines = rng.between(4, 10);
    for (std::int64_t i = 0; i < lines; ++i) {
      movement(0, t + i, catalogue.pick(rng), "warehouse", 12 * rng.between(4, 20), "receipt", "");
    }
  }

  void dispatch(const Transfer& transfer) {
    const std::string extra = R"(,"transfer_id":")" + transfer.transfer_id + R"(","to_store":")" +
                              transfer.store_id + "\"";
    UnixMs t = transfer.dispatched_at;
    for (const auto& [sku, qty] : transfer.lines) {
      if (stock(sku) < qty) {
        // Nothing on the shelf for this delivery: the supplier's pallet is booked in first.
        movement(0, t++, sku, "warehouse", std::max<std::int64_t>(240, qty), "receipt", "");
      }
      movement(0, t++, sku, "warehouse", -qty, "transfer_out", extra);
    }
  }

  void receive(const Transfer& transfer) {
    const std::string extra = R"(,"transfer_id":")" + transfer.transfer_id + "\"";
    UnixMs t = transfer.arrives_at;
    for (const auto& [sku, qty] : transfer.lines) {
      movement(0, t++, sku, "floor", qty, "transfer_in", extra);
    }
  }

  void refill() {
    while (ready.empty()) {
      std::size_t first_schedule = 0;
      UnixMs transfer_at = k_never;
      for (std::size_t i = 0; i < schedules.size(); ++i) {
        const Transfer& next = schedules[i].peek();
        const UnixMs at = warehouse ? next.dispatched_at : next.arrives_at;
        if (at < transfer_at) {
          transfer_at = at;
          first_schedule = i;
        }
      }
      const UnixMs earliest = std::min({next_activity, next_misc, transfer_at});
      if (earliest == k_never) {
        return;
      }
      if (earliest == transfer_at) {
        auto& schedule = schedules[first_schedule];
        if (warehouse) {
          dispatch(schedule.peek());
        } else {
          receive(schedule.peek());
        }
        schedule.pop();
      } else if (earliest == next_activity) {
        if (warehouse) {
          // Warehouse activity: supplier receipts and corrections in the model's ratio.
          const double receipts = MixConstants::warehouse_receipts_per_hour;
          if (rng.unit() * (receipts + MixConstants::warehouse_misc_per_hour) < receipts) {
            supplier_receipt(next_activity);
          } else {
            correction(next_activity, "warehouse");
          }
        } else {
          checkout(next_activity);
        }
        next_activity = activity.advance(model, store);
      } else {
        correction(next_misc, "floor");
        next_misc = misc.advance(model, store);
      }
    }
  }
};

StoreGenerator::StoreGenerator(const Layout& layout, const Catalogue& catalogue,
                               const TrafficModel& model, std::size_t store, std::uint64_t seed,
                               UnixMs start)
    : m_state(std::make_unique<State>(layout, catalogue, model, store, seed, start)) {}

StoreGenerator::~StoreGenerator() = default;
StoreGenerator::StoreGenerator(StoreGenerator&&) noexcept = default;
StoreGenerator& StoreGenerator::operator=(StoreGenerator&&) noexcept = default;

const GeneratedEvent& StoreGenerator::peek() {
  m_state->refill();
  return m_state->ready.front();
}

GeneratedEvent StoreGenerator::pop() {
  m_state->refill();
  GeneratedEvent e = std::move(m_state->ready.front());
  m_state->ready.pop_front();
  return e;
}

std::size_t StoreGenerator::store() const noexcept {
  return m_state->store;
}

// --- FleetGenerator ---

FleetGenerator::FleetGenerator(const Layout& layout, const Catalogue& catalogue,
                               const TrafficModel& model, std::uint64_t seed, UnixMs start,
                               const std::vector<TillRef>& tills) {
  const auto& stores = layout.stores();
  for (std::size_t s = 0; s < stores.size(); ++s) {
    std::vector<bool> selected(static_cast<std::size_t>(stores[s].tills), tills.empty());
    bool any = tills.empty();
    for (const auto& till : tills) {
      if (till.store_id == stores[s].store_id) {
        if (const auto t = layout.till_index(till)) {
          selected[static_cast<std::size_t>(*t)] = true;
          any = true;
        }
      }
    }
    if (any) {
      m_stores.emplace_back(layout, catalogue, model, s, seed, start);
      m_selected.push_back(std::move(selected));
    }
  }
  if (m_stores.empty()) {
    throw std::invalid_argument("no till of the layout selected");
  }
}

GeneratedEvent FleetGenerator::next() {
  for (;;) {
    std::size_t first = 0;
    UnixMs at = k_never;
    for (std::size_t i = 0; i < m_stores.size(); ++i) {
      const UnixMs t = m_stores[i].peek().occurred_at;
      if (t < at) {
        at = t;
        first = i;
      }
    }
    GeneratedEvent e = m_stores[first].pop();
    if (m_selected[first][static_cast<std::size_t>(e.till)]) {
      return e;
    }
  }
}

}  // namespace pos::simulator
