/*
 * Energy: an estimate of a run's electricity and emissions from the CPU time it used.
 *   kWh   = CPU-seconds x watts per busy core / 3.6e6
 *   CO2e  = kWh x grid intensity (g CO2e per kWh)
 * The defaults (README "Energy estimate"): 12 W per core, the per-core TDP the Green Algorithms
 * calculator uses for a CPU of unknown model (Lannelongue et al. 2021); 475 g CO2e/kWh, the
 * world-average grid intensity that calculator uses (IEA, 2019). Memory, GPU, cooling (PUE) and idle power are not
 * counted, so this is a lower-end estimate of the compute's own draw; override both figures with
 * train --energy.watts-per-core and --energy.grid-gco2-per-kwh for your hardware and grid.
 */
package dev.peft4j.provenance;

import dev.peft4j.Peft4jException;

public record Energy(double cpuSeconds, double wattsPerCore, double kwh, double gridGco2PerKwh, double co2eGrams) {
    public static final double DEFAULT_WATTS_PER_CORE = 12.0, DEFAULT_GRID_GCO2_PER_KWH = 475.0;

    public static Energy estimate(double cpuSeconds, double wattsPerCore, double gridGco2PerKwh) {
        if (!(wattsPerCore >= 0) || Double.isInfinite(wattsPerCore))
            throw new Peft4jException("--energy.watts-per-core must be a number >= 0 (got " + wattsPerCore + "); e.g. 12 for a typical server core");
        if (!(gridGco2PerKwh >= 0) || Double.isInfinite(gridGco2PerKwh))
            throw new Peft4jException("--energy.grid-gco2-per-kwh must be a number >= 0 (got " + gridGco2PerKwh + "); e.g. 475 (world average)");
        double kwh = cpuSeconds * wattsPerCore / 3.6e6;
        return new Energy(cpuSeconds, wattsPerCore, kwh, gridGco2PerKwh, kwh * gridGco2PerKwh);
    }

    /** "0.41 Wh, 0.19 g CO2e (35.2 CPU-s x 12 W/core, 475 g/kWh)". */
    public String describe() {
        return String.format("%s, %s CO2e (%.1f CPU-s x %s W/core, %s g/kWh)", wh(kwh * 1000), grams(co2eGrams), cpuSeconds,
                trim(wattsPerCore), trim(gridGco2PerKwh));
    }

    static String wh(double wh) {
        return wh >= 1000 ? String.format("%.2f kWh", wh / 1000) : wh >= 10 ? String.format("%.1f Wh", wh) : String.format("%.3g Wh", wh);
    }

    static String grams(double g) {
        return g >= 1000 ? String.format("%.2f kg", g / 1000) : g >= 10 ? String.format("%.1f g", g) : String.format("%.3g g", g);
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.valueOf(v);
    }
}
