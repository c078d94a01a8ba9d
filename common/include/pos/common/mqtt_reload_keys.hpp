#pragma once
// The reload rows of the MQTT settings the agent and the collector share (MqttSettings), written
// once for both programs' key tables (config_reload.hpp).

#include "pos/common/config_reload.hpp"

/// The ReloadKey rows of every MqttSettings field of a Config whose member `mqtt` is (or derives
/// from) common::MqttSettings, in the struct's order; each needs a restart (the connection is
/// made with them at start). Expands to a comma-separated list for a key table's initializer; a
/// program's own `[mqtt]` keys follow as rows of their own.
#define POS_MQTT_RELOAD_KEYS(Config, Target)                                                 \
  POS_RELOAD_KEY(Config, Target, "mqtt.uri", mqtt.uris, nullptr),                            \
      POS_RELOAD_KEY(Config, Target, "mqtt.topic_prefix", mqtt.topic_prefix, nullptr),       \
      POS_RELOAD_KEY(Config, Target, "mqtt.ca_file", mqtt.ca_file, nullptr),                 \
      POS_RELOAD_KEY(Config, Target, "mqtt.cert_file", mqtt.cert_file, nullptr),             \
      POS_RELOAD_KEY(Config, Target, "mqtt.key_file", mqtt.key_file, nullptr),               \
      POS_RELOAD_KEY(Config, Target, "mqtt.client_id", mqtt.client_id, nullptr),             \
      POS_RELOAD_KEY(Config, Target, "mqtt.keepalive_s", mqtt.keepalive, nullptr),           \
      POS_RELOAD_KEY(Config, Target, "mqtt.session_expiry_s", mqtt.session_expiry, nullptr), \
      POS_RELOAD_KEY(Config, Target, "mqtt.connect_timeout_s", mqtt.connect_timeout, nullptr)
