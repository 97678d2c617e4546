/*
 * ProgressBar: one status line for long work — a bar, done/total, a caller-supplied summary
 * (loss, tokens/s) and the ETA from the average pace so far. On a terminal it redraws in place
 * (carriage return); otherwise (logs, CI) it prints a line at most every few seconds.
 */
package dev.peft4j.train;

import java.io.PrintStream;

public final class ProgressBar {
    private final PrintStream out;
    private final String label;
    private final long total;
    private final boolean terminal;
    private final long startNanos = System.nanoTime();
    private long lastPrint;
    private long startDone = -1;

    public ProgressBar(PrintStream out, String label, long total) {
        this.out = out;
        this.label = label;
        this.total = Math.max(1, total);
        this.terminal = System.console() != null && !"dumb".equals(System.getenv("TERM"));
    }

    public boolean isTerminal() { return terminal; }

    /** Prints a log line above the bar (on a terminal the bar is redrawn by the next update). */
    public void log(String line) {
        if (terminal) out.print("\r\033[K");
        out.println(line);
        out.flush();
    }

    /** Redraws with done units finished (first call sets the baseline for the ETA). */
    public void update(long done, String summary) {
        if (startDone < 0) startDone = done;
        long now = System.nanoTime();
        boolean last = done >= total;
        if (!terminal && !last && now - lastPrint < 5_000_000_000L && lastPrint != 0) return;
        lastPrint = now;
        double elapsed = (now - startNanos) / 1e9;
        long progressed = done - startDone;
        String eta = progressed > 0 ? formatSeconds(elapsed / progressed * (total - done)) : "?";
        int width = 24, filled = (int) (width * done / total);
        String bar = "#".repeat(filled) + ".".repeat(width - filled);
        String line = String.format("%s [%s] %d/%d %s | %s elapsed, ETA %s", label, bar, done, total, summary,
                formatSeconds(elapsed), last ? "0s" : eta);
        if (terminal) {
            out.print("\r" + line + "   ");
            if (last) out.println();
        } else {
            out.println(line);
        }
        out.flush();
    }

    public static String formatSeconds(double s) {
        if (Double.isNaN(s) || Double.isInfinite(s)) return "?";
        long t = Math.round(s);
        if (t >= 3600) return String.format("%dh%02dm", t / 3600, (t % 3600) / 60);
        if (t >= 60) return String.format("%dm%02ds", t / 60, t % 60);
        return t + "s";
    }
}
