/*
 * PeftModel: several named adapters (any PEFT method) on one base model, as HF PEFT's PeftModel manages them —
 * load or create adapters, choose which are active (one, or several whose outputs add up), disable
 * them all (base output), delete one, merge/unmerge into the base weights, merge-and-unload, and
 * combine adapters into a new one with weights (add_weighted_adapter: linear, cat, svd).
 * Constraints: not thread-safe; modules_to_save is supported for one adapter at a time.
 */
package dev.peft4j.tuner;

import dev.peft4j.tuner.lora.Lora;
import dev.peft4j.tuner.lora.LoraConfig;
import dev.peft4j.tuner.lora.LoraModel;

import dev.peft4j.Peft4jException;
import dev.peft4j.autograd.Tensor;
import dev.peft4j.model.CausalLM;
import dev.peft4j.nn.Linear;
import dev.peft4j.nn.AdapterLayer;
import dev.peft4j.tuner.lora.LoraAdapter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public final class PeftModel {
    private final CausalLM model;
    private final Map<String, AdapterModel> adapters = new LinkedHashMap<>();
    private List<String> active = List.of();
    private boolean disabled;

    public PeftModel(CausalLM model) { this.model = model; }

    public CausalLM model() { return model; }

    public Map<String, AdapterModel> adapters() { return java.util.Collections.unmodifiableMap(adapters); }

    public List<String> activeAdapters() { return disabled ? List.of() : active; }

    /** Loads a PEFT adapter directory under name and makes it the active adapter. */
    public AdapterModel loadAdapter(Path dir, String name) {
        checkNew(name);
        AdapterModel lm = PeftAdapter.load(model, dir, name);
        adapters.put(name, lm);
        setAdapter(name);
        return lm;
    }

    /** Creates a fresh LoRA adapter (to train) under name and makes it active. */
    public LoraModel addAdapter(LoraConfig cfg, String name, long seed) {
        return (LoraModel) addAdapter((AdapterConfig) cfg, name, seed);
    }

    /** Creates a fresh adapter of the config's method (to train) under name and makes it active. */
    public AdapterModel addAdapter(AdapterConfig cfg, String name, long seed) {
        checkNew(name);
        AdapterModel lm = PeftMethods.of(cfg.peftType(), null).apply(model, cfg, name, seed);
        adapters.put(name, lm);
        setAdapter(name);
        return lm;
    }

    /** Only this adapter is active. */
    public void setAdapter(String name) { setAdapters(List.of(name)); }

    /** These adapters are active together: their low-rank outputs add up on every module they share. */
    public void setAdapters(List<String> names) {
        for (String n : names) require(n);
        for (Linear lin : model.linears()) {
            List<String> here = new ArrayList<>();
            for (String n : names) if (lin.adapters().containsKey(n)) here.add(n);
            lin.setActive(here);
        }
        dev.peft4j.model.VirtualPrompt prompt = null;              // prompt-learning adapters: at most one active
        String promptOwner = null;
        for (String n : names) {
            dev.peft4j.model.VirtualPrompt p = adapters.get(n).virtualPrompt();
            if (p == null) continue;
            if (prompt != null)
                throw new Peft4jException("adapters '" + promptOwner + "' and '" + n + "' are both prompt-learning adapters (virtual "
                        + "tokens or prefixes); only one can be active at a time, as in PEFT. Activate one of them");
            prompt = p;
            promptOwner = n;
        }
        model.setPrompt(prompt);
        active = List.copyOf(names);
        disabled = false;
    }

    /** Base-model output (PEFT's disable_adapter): no adapter applied until enableAdapters(). */
    public void disableAdapters() {
        for (Linear lin : model.linears()) lin.setActive(List.of());
        model.setPrompt(null);
        disabled = true;
    }

    public void enableAdapters() { setAdapters(active); }

    /** Removes an adapter (unmerged first if it was merged). */
    public void deleteAdapter(String name) {
        AdapterModel lm = require(name);
        unmerge(name);
        lm.unload();
        adapters.remove(name);
        List<String> act = new ArrayList<>(active);
        act.remove(name);
        active = List.copyOf(act);
        if (!disabled) setAdapters(active);
    }

    /** Folds scaling·B·A of the adapter into each base weight (its low-rank path is then skipped). */
    public void merge(String name) {
        AdapterModel lm = require(name);
        if (!lm.modulesToSave().isEmpty())
            throw new Peft4jException("adapter '" + name + "' trains " + lm.modulesToSave() + " in full (modules_to_save); "
                    + "merge it with mergeAndUnload(), which keeps those trained copies as the new base weights");
        refuseMergingPrompt(name, lm);
        for (String module : lm.layers().keySet()) linear(module).mergeAdapter(name, true);
    }

    public void unmerge(String name) {
        AdapterModel lm = require(name);
        for (String module : lm.layers().keySet()) {
            Linear lin = linear(module);
            if (lin.adapters().get(name).merged()) lin.mergeAdapter(name, false);
        }
    }

    /**
     * Merges the active adapters into the base weights and removes every adapter: the model is a plain
     * model again (PEFT's merge_and_unload). modules_to_save copies become the base weights, frozen.
     */
    public CausalLM mergeAndUnload() {
        for (String name : activeAdapters()) refuseMergingPrompt(name, adapters.get(name));
        for (String name : activeAdapters()) {
            AdapterModel lm = adapters.get(name);
            for (String module : lm.layers().keySet()) linear(module).mergeAdapter(name, true);
        }
        for (String name : new ArrayList<>(adapters.keySet())) {
            AdapterModel lm = adapters.get(name);
            boolean keep = activeAdapters().contains(name);
            List<Tensor[]> copies = new ArrayList<>();
            for (String module : lm.modulesToSave()) {
                Linear lin = linear(module);
                copies.add(new Tensor[] {lin.weight(), lin.bias()});
            }
            for (String module : lm.layers().keySet()) {
                Linear lin = linear(module);
                AdapterLayer a = lin.adapters().get(name);
                if (a.merged() && !keep) lin.mergeAdapter(name, false);
                forgetMerge(lin, name);
            }
            lm.unload();
            if (keep) {                                    // trained copies become the frozen base
                int i = 0;
                for (String module : lm.modulesToSave()) {
                    Tensor[] c = copies.get(i++);
                    Linear lin = linear(module);
                    lin.setBase(Tensor.frozen(module + ".weight", c[0].data, c[0].shape),
                            c[1] == null ? null : Tensor.frozen(module + ".bias", c[1].data, c[1].shape));
                }
            }
        }
        adapters.clear();
        active = List.of();
        disabled = false;
        return model;
    }

    /**
     * A new adapter newName = weighted combination of existing ones (PEFT's add_weighted_adapter):
     * LINEAR (equal ranks; sqrt(w·scaling)-weighted sums of A and of B), CAT (ranks concatenated:
     * exactly Σ w·ΔW), SVD (truncated SVD of Σ w·ΔW to svdRank, default the largest rank). The new
     * adapter has lora_alpha = r (scaling 1) and is not activated.
     */
    public LoraModel addWeightedAdapter(List<String> names, double[] weights, String newName, AdapterMath.Type type, int svdRank) {
        checkNew(newName);
        if (names.isEmpty()) throw new Peft4jException("give at least one adapter to combine");
        if (weights.length != names.size())
            throw new Peft4jException(names.size() + " adapters but " + weights.length + " weights; give one weight per adapter");
        List<LoraModel> parts = new ArrayList<>();
        for (String n : names) {
            if (!(require(n) instanceof LoraModel lm))
                throw new Peft4jException("adapter '" + n + "' is a " + require(n).config().peftType() + " adapter; combining adapters "
                        + "(add_weighted_adapter) works on LoRA adapters only, as in PEFT");
            if (!lm.modulesToSave().isEmpty())
                throw new Peft4jException("adapter '" + n + "' has modules_to_save " + lm.modulesToSave() + "; combining such adapters is not supported");
            parts.add(lm);
        }
        java.util.Set<String> modules = new java.util.LinkedHashSet<>(parts.get(0).adapters().keySet());
        for (LoraModel p : parts.subList(1, parts.size()))
            if (!p.adapters().keySet().equals(modules))
                throw new Peft4jException("adapters " + names + " do not adapt the same modules; PEFT's add_weighted_adapter needs the same target modules");
        LoraConfig base = parts.get(0).config();
        AdapterMath.Type t = AdapterMath.effectiveType(type, parts.size());            // PEFT: one adapter -> linear
        int[] configRanks = new int[parts.size()];
        for (int i = 0; i < parts.size(); i++) {
            LoraConfig c = parts.get(i).config();
            configRanks[i] = c.r();
            for (int r : c.rankPattern().values()) configRanks[i] = Math.max(configRanks[i], r);
        }
        int newR = AdapterMath.newRank(t, configRanks, svdRank);
        Map<String, AdapterMath.Combined> combined = new LinkedHashMap<>();
        for (String module : modules) {
            List<AdapterMath.Part> ps = new ArrayList<>();
            for (LoraModel p : parts) {
                LoraAdapter a = p.adapters().get(module);
                ps.add(new AdapterMath.Part(a.A.data, a.B.data, a.r, a.A.dim(1), a.B.dim(0), a.scaling));
            }
            AdapterMath.Combined c = AdapterMath.combine(t, ps, weights, t == AdapterMath.Type.SVD ? newR : 0);
            combined.put(module, c.r() < newR ? c.padRank(newR) : c);                  // PEFT zero-pads to the config rank
        }
        // PEFT: replace(config of the first adapter, r=new_rank, lora_alpha=new_rank, rank_pattern={}, alpha_pattern={}), no rsLoRA
        LoraConfig cfg = base.toBuilder().r(newR).alpha(newR).rankPattern(Map.of()).alphaPattern(Map.of()).useRslora(false)
                .targetModules(TargetModules.names(new ArrayList<>(modules))).layersToTransform(List.of()).layersPattern(List.of())
                .build();
        List<String> wasActive = activeAdapters();
        LoraModel lm = Lora.apply(model, cfg, newName, 0);
        for (Map.Entry<String, LoraAdapter> e : lm.adapters().entrySet()) {
            AdapterMath.Combined c = combined.get(e.getKey());
            System.arraycopy(c.A(), 0, e.getValue().A.data, 0, c.A().length);
            System.arraycopy(c.B(), 0, e.getValue().B.data, 0, c.B().length);
        }
        adapters.put(newName, lm);
        setAdapters(wasActive);
        return lm;
    }

    private static void refuseMergingPrompt(String name, AdapterModel lm) {
        if (lm.virtualPrompt() != null)
            throw new Peft4jException("adapter '" + name + "' is a " + lm.config().peftType() + " adapter: it adds virtual tokens / "
                    + "prefixes, not weight updates, so it cannot be merged into the base weights (PEFT refuses too). "
                    + "Serve it unmerged: load the adapter with the base model (generate/eval --adapter)");
    }

    private static void forgetMerge(Linear lin, String name) {
        AdapterLayer a = lin.adapters().get(name);
        if (a != null && a.merged()) lin.markUnmerged(name);
    }

    private AdapterModel require(String name) {
        AdapterModel lm = adapters.get(name);
        if (lm == null) throw new Peft4jException("no adapter named '" + name + "'; loaded: " + adapters.keySet());
        return lm;
    }

    private void checkNew(String name) {
        if (adapters.containsKey(name)) throw new Peft4jException("an adapter named '" + name + "' is already loaded; choose another name");
    }

    private Linear linear(String module) {
        for (Linear l : model.linears()) if (l.name.equals(module)) return l;
        throw new Peft4jException("module " + module + " not found");
    }
}
