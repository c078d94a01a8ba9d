#pragma once
// The agent uses the MQTT seam shared with the collector.

#include "pos/common/transport.hpp"

namespace pos::agent {
using Transport = common::Transport;
using TransportMessage = common::TransportMessage;
}  // namespace pos::agent
