module vectron.dev/example

go 1.19

require vectron.dev/vectron v0.0.0

replace vectron.dev/vectron => ../../clients/go
