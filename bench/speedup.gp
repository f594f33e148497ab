# The plot of bench/README.md: speedup over the serial loop against task time, zlib over items of
# 64 KiB-4 MiB on a pool of 2, mproc against Python's Pool. Run by bench/run.sh:
#   gnuplot -e "datafile='speedup.dat'; outfile='speedup.png'" bench/speedup.gp
# The data (table.py): kib, then for mproc and for Python the task time (ms) and the speedups of
# map, imap and apply_async, each the median of the rounds; then the no-IPC floor's speedup (the
# same work in 2 forked processes with nothing passed: what this machine's two CPUs give).
set terminal pngcairo size 1000,560 font ",11" noenhanced
set output outfile
set title "Speedup over the serial loop, 2 workers (zlib level 1; 64 KiB, 256 KiB, 1 MiB, 4 MiB items)"
set xlabel "task time, serial (ms, log scale)"
set ylabel "speedup (serial time / call time)"
set logscale x
set xrange [*:*]
set yrange [0:2.2]
set key outside right top
set grid
plot 2 title "ideal (2 workers)" with lines dashtype 2 linecolor rgb "gray", \
     1.9 title "target 1.9x" with lines dashtype 3 linecolor rgb "red", \
     datafile using 2:10 title "no-IPC floor (2 processes)" with linespoints pointtype 13 linecolor rgb "black", \
     datafile using 2:3 title "mproc map" with linespoints pointtype 7 linecolor rgb "#1f77b4", \
     datafile using 2:4 title "mproc imap" with linespoints pointtype 5 linecolor rgb "#2ca02c", \
     datafile using 2:5 title "mproc apply_async" with linespoints pointtype 9 linecolor rgb "#9467bd", \
     datafile using 6:7 title "Python map" with linespoints pointtype 6 dashtype 2 linecolor rgb "#1f77b4", \
     datafile using 6:8 title "Python imap" with linespoints pointtype 4 dashtype 2 linecolor rgb "#2ca02c", \
     datafile using 6:9 title "Python apply_async" with linespoints pointtype 8 dashtype 2 linecolor rgb "#9467bd"
