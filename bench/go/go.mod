module corio-bench-peer-go

go 1.19
