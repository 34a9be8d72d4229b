-- The smallest luvit program: globals p and print, process and args.
print('Hello from luvit-rs on ' .. jit.version)
p({ pid = process.pid, args = args, answer = 42, list = { 1, 2, 'three' } })
