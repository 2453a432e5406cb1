# renders bench-scale.png from bench-scale.dat: gnuplot bench-scale.gp (in this directory)
set terminal pngcairo size 900,560 enhanced font 'sans,10'
set output 'bench-scale.png'
set title "tinygpt training step as batch and width double (4 layers, 4 heads, block 64)" noenhanced
set xlabel "GFLOP per step (matrix products)" noenhanced
set ylabel "ms per step" noenhanced
set grid
set key top right
set logscale x
set logscale y
set key bottom right
plot 'bench-scale.dat' index 0 using 1:2 with linespoints lw 2 pt 7 lc rgb "#1f4fbf" title "ag, batch 16-128 at 128 dims" noenhanced, \
     'bench-scale.dat' index 1 using 1:2 with linespoints lw 2 pt 7 lc rgb "#2a9d2a" title "ag matmul floor, batch 16-128 at 128 dims" noenhanced, \
     'bench-scale.dat' index 2 using 1:2 with linespoints lw 2 pt 7 lc rgb "#d9661f" title "PyTorch, batch 16-128 at 128 dims" noenhanced, \
     'bench-scale.dat' index 3 using 1:2 with linespoints lw 2 pt 7 dt 2 lc rgb "#1f4fbf" title "ag, width 64-256 at batch 32" noenhanced, \
     'bench-scale.dat' index 4 using 1:2 with linespoints lw 2 pt 7 dt 2 lc rgb "#2a9d2a" title "ag matmul floor, width 64-256 at batch 32" noenhanced, \
     'bench-scale.dat' index 5 using 1:2 with linespoints lw 2 pt 7 dt 2 lc rgb "#d9661f" title "PyTorch, width 64-256 at batch 32" noenhanced, \
     'bench-scale.dat' index 6 using 1:2 with lines lw 1 dt 2 lc rgb "#888888" title "proportional to GFLOP" noenhanced
