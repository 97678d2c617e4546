/*
 * RunClock: when a run started, by the wall clock, a monotonic clock and the process's CPU time
 * (every thread of the JVM: OperatingSystemMXBean.getProcessCpuTime), so the end of the run can
 * report start/end times, wall seconds and CPU-seconds for the energy estimate.
 */
package dev.peft4j.provenance;

import java.lang.management.ManagementFactory;
import java.time.Instant;

public record RunClock(Instant startedAt, long startNanos, long startCpuNanos) {

    public static RunClock start() {
        return new RunClock(Instant.now(), System.nanoTime(), processCpuNanos());
    }

    public double wallSeconds() {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    /** CPU-seconds the process used since start(); NaN where the JVM cannot tell. */
    public double cpuSeconds() {
        long now = processCpuNanos();
        return now < 0 || startCpuNanos < 0 ? Double.NaN : (now - startCpuNanos) / 1e9;
    }

    /** Process CPU time in ns (all threads), or -1 when the platform's MXBean does not provide it. */
    static long processCpuNanos() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os)
            return os.getProcessCpuTime();
        return -1;
    }
}
