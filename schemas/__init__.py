"""Data standards: identifier rules (GB 11643, GB 32100, GB 11714) and the national code tables
(GB/T 2260, GB/T 2261.1, GB/T 3304, GB/T 4754, GB/T 4761) that every stage checks against."""
