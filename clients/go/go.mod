module vectron.dev/vectron

go 1.19
