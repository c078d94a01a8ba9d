#include "pos/agent/ack_timeout.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace pos::agent {

AckTimeout::AckTimeout(Duration floor, Duration ceiling)
    : m_floor(floor), m_ceiling(ceiling), m_current(floor) {
  if (floor.count() <= 0 || ceiling < floor) {
    throw std::invalid_argument("ack timeout: need 0 < ack_timeout_ms <= ack_timeout_max_ms");
  }
}

void AckTimeout::on_sample(Duration waited) noexcept {
  const double sample = static_cast<double>(std::max(waited.count(), Duration::rep{0}));
  // RFC 6298, section 2: alpha = 1/8, beta = 1/4, K = 4.
  if (!m_have_sample) {
    m_srtt_ms = sample;
    m_rttvar_ms = sample / 2;
    m_have_sample = true;
  } else {
    m_rttvar_ms = 0.75 * m_rttvar_ms + 0.25 * std::abs(m_srtt_ms - sample);
    m_srtt_ms = 0.875 * m_srtt_ms + 0.125 * sample;
  }
  // RFC 6298 adds max(G, K * rttvar); here the headroom is at least a quarter of srtt, so steady
  // samples (rttvar -> 0) do not leave the timeout at exactly the usual wait.
  const double wanted = std::ceil(m_srtt_ms + std::max(4 * m_rttvar_ms, m_srtt_ms / 4));
  const double capped = std::min(wanted, static_cast<double>(m_ceiling.count()));
  m_current = std::max(m_floor, Duration(static_cast<Duration::rep>(capped)));
}

void AckTimeout::on_timeout() noexcept {
  m_current = m_current > m_ceiling / 2 ? m_ceiling : m_current * 2;
}

void AckTimeout::reset() noexcept {
  m_current = m_floor;
  m_have_sample = false;
  m_srtt_ms = 0;
  m_rttvar_ms = 0;
}

}  // namespace pos::agent
