// posfleet: a fleet of emulated tills speaking the agent's MQTT protocol (docs/posfleet.md).
#include <string>
#include <vector>

#include "pos/fleetemu/fleet.hpp"

int main(int argc, char** argv) {
  return pos::fleetemu::run(std::vector<std::string>(argv + 1, argv + argc));
}
