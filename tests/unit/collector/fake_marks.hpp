#pragma once
// Marks fake for unit tests of the BatchProcessor at the mark store seam: marks in memory, commits
// that fail while `fail_commits` is set (like a full disk), completions posted in call order.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "pos/collector/mark_store.hpp"

namespace pos::collector::test {

class FakeMarks final : public Marks {
 public:
  explicit FakeMarks(boost::asio::any_io_executor executor) : m_executor(std::move(executor)) {}

  bool fail_commits = false;
  std::size_t commit_calls = 0;
  std::size_t failed_commits = 0;

  std::vector<EpochMark> epochs(const std::string& store_id,
                                const std::string& till_id) const override {
    std::vector<EpochMark> out;
    for (const auto& [key, mark] : m_marks) {
      if (key.store_id == store_id && key.till_id == till_id) {
        out.push_back(EpochMark{key.epoch, mark, 0});
      }
    }
    return out;
  }

  std::vector<MarkKey> committed_before(std::int64_t) const override { return {}; }

  void forget(std::vector<MarkKey> keys) override {
    for (const auto& key : keys) {
      m_marks.erase(key);
    }
  }

  std::uint64_t mark(const MarkKey& key) const override {
    const auto it = m_marks.find(key);
    return it == m_marks.end() ? 0 : it->second;
  }

  void commit(MarkKey key, std::uint64_t through_seq, Done done) override {
    ++commit_calls;
    if (fail_commits) {
      ++failed_commits;
      boost::asio::post(m_executor, [done = std::move(done)] {
        done(fail("mark store collector.db: database or disk is full"));
      });
      return;
    }
    boost::asio::post(m_executor,
                      [this, key = std::move(key), through_seq, done = std::move(done)] {
                        auto& mark = m_marks[key];
                        mark = std::max(mark, through_seq);
                        done(Status{});
                      });
  }

 private:
  boost::asio::any_io_executor m_executor;
  std::unordered_map<MarkKey, std::uint64_t, MarkKeyHash> m_marks;
};

}  // namespace pos::collector::test
