#include "pos/fleetemu/options.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>

#include "pos/common/split.hpp"
#include "pos/protocol/topics.hpp"

namespace pos::fleetemu {
namespace {

Result<std::uint64_t> parse_uint(const std::string& name, const std::string& text,
                                 std::uint64_t min, std::uint64_t max) {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value < min || value > max) {
    return fail(name + ": must be an integer in " + std::to_string(min) + ".." +
                std::to_string(max) + " (got \"" + text + "\")");
  }
  return value;
}

Result<double> parse_positive(const std::string& name, const std::string& text, double max) {
  double value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || !std::isfinite(value) || value <= 0 ||
      value > max) {
    return fail(name + ": must be a number > 0 and <= " + std::to_string(static_cast<long>(max)) +
                " (got \"" + text + "\")");
  }
  return value;
}

using Setter = std::function<Status(const std::string&)>;

/// Applies `--name value` / `--name=value` pairs through `setters`.
Status apply_flags(const std::vector<std::string>& args, std::size_t from,
                   const std::map<std::string, Setter>& setters, bool* quiet) {
  for (std::size_t i = from; i < args.size(); ++i) {
    std::string name = args[i];
    std::string value;
    bool has_value = false;
    if (const auto eq = name.find('='); name.starts_with("--") && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (quiet != nullptr && name == "--quiet") {
      *quiet = true;
      continue;
    }
    const auto it = setters.find(name);
    if (it == setters.end()) {
      return fail(name + ": unknown option");
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return fail(name + ": needs a value");
      }
      value = args[++i];
    }
    if (auto s = it->second(value); !s) {
      return s;
    }
  }
  return {};
}

template <class T>
Setter uint_setter(const std::string& name, T& target, std::uint64_t min, std::uint64_t max) {
  return [name, &target, min, max](const std::string& v) -> Status {
    auto r = parse_uint(name, v, min, max);
    if (!r) {
      return fail(r.error());
    }
    target = static_cast<T>(*r);
    return {};
  };
}

template <class Duration>
Setter duration_setter(const std::string& name, Duration& target, std::uint64_t min,
                       std::uint64_t max) {
  return [name, &target, min, max](const std::string& v) -> Status {
    auto r = parse_uint(name, v, min, max);
    if (!r) {
      return fail(r.error());
    }
    target = Duration(static_cast<typename Duration::rep>(*r));
    return {};
  };
}

Setter string_setter(const std::string& name, std::string& target) {
  return [name, &target](const std::string& v) -> Status {
    if (v.empty()) {
      return fail(name + ": must not be empty");
    }
    target = v;
    return {};
  };
}

Result<Command> parse_run(const std::vector<std::string>& args, std::size_t from) {
  RunOptions o;
  std::optional<double> rate;
  std::optional<double> total_rate;
  const std::map<std::string, Setter> setters = {
      {"--broker",
       [&o](const std::string& v) -> Status {
         for (const auto uri : common::split(v, ',')) {
           if (uri.empty()) {
             return fail("--broker: empty URI in \"" + v + "\"");
           }
           o.brokers.emplace_back(uri);
         }
         return {};
       }},
      {"--ca", string_setter("--ca", o.ca_file)},
      {"--pki-dir", string_setter("--pki-dir", o.pki_dir)},
      {"--topic-prefix",
       [&o](const std::string& v) -> Status {
         if (auto s = protocol::check_topic_prefix(v); !s) {
           return fail("--topic-prefix: " + s.error().message);
         }
         o.topic_prefix = v;
         return {};
       }},
      {"--tills", uint_setter("--tills", o.tills, 1, 100'000)},
      {"--first-till", uint_setter("--first-till", o.first_till, 0, 1'000'000)},
      {"--tills-per-store", uint_setter("--tills-per-store", o.tills_per_store, 1, 1000)},
      {"--rate",
       [&rate](const std::string& v) -> Status {
         auto r = parse_positive("--rate", v, 100'000);
         if (!r) {
           return fail(r.error());
         }
         rate = *r;
         return {};
       }},
      {"--total-rate",
       [&total_rate](const std::string& v) -> Status {
         auto r = parse_positive("--total-rate", v, 10'000'000);
         if (!r) {
           return fail(r.error());
         }
         total_rate = *r;
         return {};
       }},
      {"--batch-events", uint_setter("--batch-events", o.batch_events, 1, 10'000)},
      {"--batch-delay-ms", duration_setter("--batch-delay-ms", o.batch_delay, 0, 60'000)},
      {"--window", uint_setter("--window", o.window, 1, 1000)},
      {"--ack-timeout-ms", duration_setter("--ack-timeout-ms", o.ack_timeout, 100, 3'600'000)},
      {"--connect-rate",
       [&o](const std::string& v) -> Status {
         auto r = parse_positive("--connect-rate", v, 100'000);
         if (!r) {
           return fail(r.error());
         }
         o.connect_rate = *r;
         return {};
       }},
      {"--duration", duration_setter("--duration", o.duration, 1, 86'400)},
      {"--drain-timeout", duration_setter("--drain-timeout", o.drain_timeout, 0, 3600)},
      {"--status-interval", duration_setter("--status-interval", o.status_interval, 0, 3600)},
      {"--tick-ms", duration_setter("--tick-ms", o.tick, 1, 1000)},
      {"--dictionary", string_setter("--dictionary", o.dictionary_file)},
      {"--json", string_setter("--json", o.json_file)},
      {"--seed", uint_setter("--seed", o.seed, 0, UINT64_MAX)},
  };
  if (auto s = apply_flags(args, from, setters, &o.quiet); !s) {
    return fail(s.error());
  }
  if (o.brokers.empty()) {
    return fail("--broker: required (ssl://HOST:PORT, repeatable)");
  }
  if (rate && total_rate) {
    return fail("--total-rate: give either --rate or --total-rate, not both");
  }
  if (rate) {
    o.rate_per_till = *rate;
  } else if (total_rate) {
    o.rate_per_till = *total_rate / o.tills;
  }
  const bool tls =
      o.brokers.front().starts_with("ssl://") || o.brokers.front().starts_with("mqtts://");
  if (tls && o.ca_file.empty()) {
    return fail("--ca: required with ssl:// brokers");
  }
  if (tls && o.pki_dir.empty()) {
    return fail("--pki-dir: required with ssl:// brokers (make one with `posfleet pki`)");
  }
  return Command(std::move(o));
}

Result<Command> parse_pki(const std::vector<std::string>& args, std::size_t from) {
  PkiOptions o;
  const std::map<std::string, Setter> setters = {
      {"--ca-cert", string_setter("--ca-cert", o.ca_cert)},
      {"--ca-key", string_setter("--ca-key", o.ca_key)},
      {"--out", string_setter("--out", o.out_dir)},
      {"--tills", uint_setter("--tills", o.tills, 1, 100'000)},
      {"--first-till", uint_setter("--first-till", o.first_till, 0, 1'000'000)},
      {"--tills-per-store", uint_setter("--tills-per-store", o.tills_per_store, 1, 1000)},
      {"--days", uint_setter("--days", o.days, 1, 3650)},
  };
  if (auto s = apply_flags(args, from, setters, nullptr); !s) {
    return fail(s.error());
  }
  if (o.ca_cert.empty()) {
    return fail("--ca-cert: required");
  }
  if (o.ca_key.empty()) {
    return fail("--ca-key: required");
  }
  if (o.out_dir.empty()) {
    return fail("--out: required");
  }
  return Command(std::move(o));
}

}  // namespace

std::string usage() {
  return R"(usage:
  posfleet run --broker URI [--broker URI ...] --ca FILE --pki-dir DIR [options]
  posfleet pki --ca-cert FILE --ca-key FILE --out DIR [--tills N] [--first-till N]
               [--tills-per-store N] [--days N]

run options (defaults in brackets):
  --broker URI[,URI]     broker(s); tills spread over them like agents (till_broker_order)
  --ca FILE              CA of the broker's certificate (ssl:// only)
  --pki-dir DIR          {store}-{till}.crt/.key per till, e.g. from `posfleet pki`
  --tills N              emulated tills [10]; named S001/T1.. S001/T{per-store}, S002/T1, ...
  --first-till N         index of this process's first till [0]: several posfleet processes
                         each take their own range (--first-till 0, 2500, ... with --tills 2500)
  --tills-per-store N    [10]
  --rate R               events/s per till [1]
  --total-rate R         events/s over the fleet (instead of --rate)
  --batch-events N       events per batch at most [100]
  --batch-delay-ms MS    a batch that is not full waits this long for more events [200]
  --window N             unacked batches per till at most [4]
  --ack-timeout-ms MS    resend (go-back-N) when no ack progress for this long [10000]
  --connect-rate R       new connections per second (TLS handshakes) [200]
  --duration S           seconds events are offered [30]
  --drain-timeout S      then seconds to wait for outstanding acks [30]
  --status-interval S    retained status message period, 0 = only at connect [30]
  --tick-ms MS           scheduling tick [20]
  --dictionary FILE      zstd dictionary (the collector needs it in [dictionaries] dir)
  --topic-prefix P       [pos/v1]
  --json FILE            also write the summary as JSON
  --seed N               event mix seed [1]
  --quiet                no progress lines on stderr
exit: 0 every event acked at the end, 1 something unacked or failed, 2 usage error
)";
}

Result<Command> parse_command_line(const std::vector<std::string>& args) {
  if (args.empty()) {
    return fail("missing subcommand (run or pki)");
  }
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      return Command(HelpRequest{usage()});
    }
  }
  if (args[0] == "run") {
    return parse_run(args, 1);
  }
  if (args[0] == "pki") {
    return parse_pki(args, 1);
  }
  if (args[0].starts_with("--")) {
    return parse_run(args, 0);  // `run` may be left out
  }
  return fail(args[0] + ": unknown subcommand (run or pki)");
}

}  // namespace pos::fleetemu
