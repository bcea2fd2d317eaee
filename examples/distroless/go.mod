module example.com/distroless

go 1.24
