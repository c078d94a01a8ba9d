// Memory and time of the live stock book (collector/kpis/stock_book.hpp): fills a StockBook with
// N SKUs in S stores (every SKU stocked in every store, SKU ids as possim writes them), and reports
// the heap bytes per item and per SKU (glibc mallinfo2, so the allocator's own overhead is in),
// the CPU time per stock change, and the cost of GET /v1/inventory, set_thresholds and a snapshot.
//   stock_bench [skus=20000] [stores=21]

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pos/collector/stock_book.hpp"

namespace {

using pos::collector::EventFacts;
using pos::collector::EventKind;
using pos::collector::SaleLineFacts;
using pos::collector::StockBook;
using pos::collector::StockBookOptions;

std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

/// CPU time of this (single-threaded) process: steadier than wall time on a shared machine.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double seconds_since(double start) {
  return cpu_seconds() - start;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t skus = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20'000;
  const std::size_t stores = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 21;
  std::vector<std::string> sku_ids;
  std::vector<std::string> store_ids;
  for (std::size_t i = 0; i < skus; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "TOP-%05zu-M-BLK", i);  // 15 chars: std::string's inline buffer
    sku_ids.emplace_back(id);
  }
  for (std::size_t s = 0; s < stores; ++s) {
    store_ids.push_back(s + 1 == stores ? "WH01" : "S" + std::to_string(100 + s).substr(1));
  }
  const std::vector<std::string> categories{"tops",  "bottoms",     "dresses", "outerwear",
                                            "shoes", "accessories", "bags",    "underwear"};
  StockBookOptions options;
  options.max_items = skus * stores;
  options.max_skus = skus;
  options.thresholds.categories = {{"dresses", 2}, {"accessories", 10}};

  const std::size_t before = heap_in_use();
  auto book = std::make_unique<StockBook>(options);
  // Categories learned from one sale line per SKU.
  for (std::size_t i = 0; i < skus; ++i) {
    SaleLineFacts line{.sku = sku_ids[i], .category = categories[i % categories.size()], .qty = 1};
    EventFacts sale;
    sale.kind = EventKind::sale;
    sale.store_id = store_ids[0];
    sale.lines = std::span<const SaleLineFacts>(&line, 1);
    book->add(sale, 1);
  }
  const std::size_t with_skus = heap_in_use();
  const auto start = cpu_seconds();
  std::size_t changes = 0;
  for (std::size_t s = 0; s < stores; ++s) {
    for (std::size_t i = 0; i < skus; ++i) {
      EventFacts change;
      change.kind = EventKind::stock_change;
      change.store_id = store_ids[s];
      change.stock.sku = sku_ids[i];
      change.stock.delta = static_cast<std::int64_t>((i * 7 + s) % 40);
      change.stock.delta = change.stock.delta == 0 ? 1 : change.stock.delta;
      book->add(change, 2);
      ++changes;
    }
  }
  const double fill_s = seconds_since(start);
  const std::size_t full = heap_in_use();
  const std::size_t items = book->size();

  // Steady state: changes to existing items allocate nothing.
  const auto steady = cpu_seconds();
  std::size_t moved = 0;
  for (std::size_t i = 0; i < skus; ++i) {
    EventFacts change;
    change.kind = EventKind::stock_change;
    change.store_id = store_ids[i % stores];
    change.stock.sku = sku_ids[i];
    change.stock.delta = -1;
    book->add(change, 3);
    ++moved;
  }
  const double steady_s = seconds_since(steady);

  auto timed = [](auto&& fn) {
    const auto t = cpu_seconds();
    const std::size_t size = fn().size();
    return std::pair<double, std::size_t>(seconds_since(t) * 1000.0, size);
  };
  pos::collector::StockQuery low_query;
  low_query.low_only = true;
  pos::collector::StockQuery store_query;
  store_query.store_id = "S01";
  const auto [low_ms, low_bytes] = timed([&] { return book->to_json(low_query, 4); });
  const auto [store_ms, store_bytes] = timed([&] { return book->to_json(store_query, 4); });
  const auto thresholds_start = cpu_seconds();
  auto higher = options.thresholds;
  higher.low_default = 10;
  book->set_thresholds(higher, 5);
  const double thresholds_ms = seconds_since(thresholds_start) * 1000.0;
  std::string snapshot;
  const auto [snap_ms, snap_bytes] = timed([&] { return snapshot = book->snapshot(); });
  StockBook restored(options);
  const auto [restore_ms, restore_ok] =
      timed([&] { return std::string(restored.restore(snapshot) ? "ok" : ""); });

  std::printf("skus %zu, stores %zu, items %zu, low %zu\n", skus, stores, items, book->low_items());
  std::printf("heap: %.1f bytes per SKU category entry, %.1f bytes per (store, SKU) item\n",
              static_cast<double>(with_skus - before) / static_cast<double>(skus),
              static_cast<double>(full - with_skus) / static_cast<double>(items));
  std::printf("total %.1f MiB for %zu items\n",
              static_cast<double>(full - before) / (1024.0 * 1024.0), items);
  std::printf("add (new item): %.0f ns per change; add (existing item): %.0f ns per change\n",
              fill_s * 1e9 / static_cast<double>(changes),
              steady_s * 1e9 / static_cast<double>(moved));
  std::printf(
      "GET /v1/inventory?low=1&limit=500: %.1f ms (%zu bytes); ?store=S01: %.1f ms (%zu bytes)\n",
      low_ms, low_bytes, store_ms, store_bytes);
  std::printf("set_thresholds: %.1f ms (%zu low after)\n", thresholds_ms, book->low_items());
  std::printf("snapshot: %.1f ms (%.1f MiB); restore: %.1f ms (%s)\n", snap_ms,
              static_cast<double>(snap_bytes) / (1024.0 * 1024.0), restore_ms,
              restore_ok ? "ok" : "FAILED");
  return restore_ok ? 0 : 1;
}
