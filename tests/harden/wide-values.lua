-- A program paused among values wider than LuaJIT's C stack: 8,000 slots, where mlua keeps
-- every Lua value Rust holds at once. tests/debug_faults.rs stops at the marked line and lists
-- both tables whole.
local many = {}
for i = 1, 10000 do many[i] = { i } end
local named = {}
for i = 1, 10000 do named['k' .. i] = { i } end
local marker = #many -- stop here (line 8)
print(marker, named.k1[1])
