// Brute-force batch answers to the Nexmark queries over a finite set of events: the yardstick
// the streaming jobs are checked against. Written for clarity, not speed; every result is
// sorted by its row's operator<. docs/nexmark.md defines the semantics.
#pragma once

#include <span>
#include <vector>

#include "model.hpp"
#include "queries.hpp"

namespace weft::nexmark::reference {

[[nodiscard]] std::vector<Q0Row> q0(std::span<const Event> events);
[[nodiscard]] std::vector<Q1Row> q1(std::span<const Event> events);
[[nodiscard]] std::vector<Q2Row> q2(std::span<const Event> events);
[[nodiscard]] std::vector<Q3Row> q3(std::span<const Event> events);
[[nodiscard]] std::vector<Q4Row> q4(std::span<const Event> events);
[[nodiscard]] std::vector<Q5Row> q5(std::span<const Event> events);
[[nodiscard]] std::vector<Q7Row> q7(std::span<const Event> events);
[[nodiscard]] std::vector<Q8Row> q8(std::span<const Event> events);
[[nodiscard]] std::vector<Q11Row> q11(std::span<const Event> events);

}  // namespace weft::nexmark::reference
