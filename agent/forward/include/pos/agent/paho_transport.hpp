#pragma once
// The agent's MQTT transport is the Paho one shared with the collector.

#include "pos/common/paho_transport.hpp"

namespace pos::agent {
using PahoTransport = common::PahoTransport;
using PahoTransportOptions = common::PahoTransportOptions;
}  // namespace pos::agent
