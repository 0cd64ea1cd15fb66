module github.com/smp/delivery

go 1.26
