using System.Collections.Frozen;
using System.Globalization;

namespace PcieVirt.Hypervisor.Timing;

/// <summary>
/// The costs the timing model charges, one per step of an I/O on some path. Defaults and their
/// sources are in spec-notes/timing.md (from shared/reference/latency-anchors.md §8).
/// </summary>
public enum TimingParameter
{
    /// <summary>VM exit plus re-entry with a trivial handler (VMCALL round trip).</summary>
    VmExitRoundTrip,
    /// <summary>Fetching, decoding and emulating the faulting MMIO instruction, plus in-kernel bus dispatch.</summary>
    InstructionDecode,
    /// <summary>Extra cost of handling an exit in the VMM process rather than in the host kernel.</summary>
    ExitToUser,
    /// <summary>The user-space device model handling one trapped register access.</summary>
    DeviceModelDispatch,
    /// <summary>VMM main loop / big-lock and MSI-X emulation cost per I/O on the emulated path.</summary>
    EmulatedMainLoop,
    /// <summary>A paravirtual notify exit handled in the kernel (ioeventfd-style, no decode).</summary>
    KickExit,
    /// <summary>Waking the backend thread after a kick (eventfd to running thread).</summary>
    BackendWakeup,
    /// <summary>Host kernel block layer and asynchronous I/O submit plus completion, per request.</summary>
    HostBlockStack,
    /// <summary>Virtual-disk file system mapping and lock lookup per request (VMFS-like layer).</summary>
    VmfsLayer,
    /// <summary>Injecting a virtual interrupt into a running vCPU (irqfd, with the kick IPI).</summary>
    InterruptInjection,
    /// <summary>EOI exit when the platform has no APIC virtualization.</summary>
    EoiExit,
    /// <summary>Waking a halted vCPU: HLT exit, schedule in, re-enter.</summary>
    HaltWakeup,
    /// <summary>Posted-interrupt delivery into a running vCPU (no exit).</summary>
    PostedInterrupt,
    /// <summary>CPU cost of a posted MMIO write (doorbell).</summary>
    MmioPostedWrite,
    /// <summary>CPU stall of an MMIO read (non-posted round trip).</summary>
    MmioReadRoundTrip,
    /// <summary>One-way time of a posted write across the link (doorbell reaching the device, MSI reaching the root complex).</summary>
    PostedWriteLatency,
    /// <summary>DMA read round trip of a small (64 B) request from the device.</summary>
    DmaReadRoundTrip,
    /// <summary>Extra latency of a DMA whose translation misses the IOTLB.</summary>
    IotlbMissPenalty,
    /// <summary>IOTLB capacity in 4 KiB entries.</summary>
    IotlbEntries,
    /// <summary>PCIe generation of the device's link (1-5).</summary>
    PcieGeneration,
    /// <summary>Lanes of the device's link.</summary>
    PcieWidth,
    /// <summary>Maximum payload size of write and completion TLPs.</summary>
    MaxPayloadSize,
    /// <summary>Header, framing and link-layer bytes of a memory write TLP (64-bit address).</summary>
    TlpOverheadWrite,
    /// <summary>Header, framing and link-layer bytes of a memory read request TLP.</summary>
    TlpOverheadRead,
    /// <summary>Header, framing and link-layer bytes of a completion with data.</summary>
    TlpOverheadCompletion,
    /// <summary>RAID-on-chip firmware time per command (cache miss path).</summary>
    ControllerFirmware,
    /// <summary>OS block layer and driver submit path (guest or bare-metal kernel).</summary>
    OsIoSubmit,
    /// <summary>OS interrupt entry, completion handling and waking the waiting thread.</summary>
    OsIoComplete,
    /// <summary>1 when the platform virtualizes the APIC (no EOI exits), 0 otherwise.</summary>
    Apicv,
    /// <summary>1 when the IOMMU posts interrupts of assigned functions into running vCPUs, 0 for exit-based delivery.</summary>
    PostedInterrupts,
    /// <summary>External-interrupt exit of a vCPU when an assigned device's MSI arrives without posted interrupts.</summary>
    ExternalInterruptExit,
    /// <summary>Size of the completions that return the device's DMA reads (split at the root complex's Read Completion Boundary, or at most MPS).</summary>
    ReadCompletionSize,
    /// <summary>Extra cost per I/O of a paravirtual backend served by the VMM main loop instead of a dedicated I/O thread (0 = I/O thread).</summary>
    PvMainLoop,
}

/// <summary>What a parameter is measured in.</summary>
public enum TimingUnit { Nanoseconds, Count, Bytes, Flag }

/// <summary>One row of the parameter table: name in model files, unit, default, sensible range, source.</summary>
public sealed record TimingParameterInfo(TimingParameter Parameter, string Name, TimingUnit Unit, ulong Default, ulong Min, ulong Max, string Source)
{
    /// <summary>Only powers of two within [<see cref="Min"/>, <see cref="Max"/>] are valid (link widths, payload sizes).</summary>
    public bool PowerOfTwo { get; init; }

    /// <summary>Whether <paramref name="value"/> is a valid setting of this parameter.</summary>
    public bool IsValid(ulong value) => value >= Min && value <= Max && (!PowerOfTwo || ulong.IsPow2(value));

    /// <summary>The valid values in words, for messages: "500..800" or "a power of two in 128..4096".</summary>
    public string RangeText => PowerOfTwo
        ? string.Create(CultureInfo.InvariantCulture, $"a power of two in {Min}..{Max}")
        : string.Create(CultureInfo.InvariantCulture, $"{Min}..{Max}");
}

/// <summary>
/// The timing model's parameter table. Values are read without allocation by index; model files
/// override them by name under <c>"timing"</c>. See spec-notes/timing.md for every default's source.
/// </summary>
public sealed partial class TimingParameters
{
    /// <summary>Every parameter with its default and source (latency-anchors.md §8 unless said).</summary>
    public static readonly IReadOnlyList<TimingParameterInfo> Table =
    [
        new(TimingParameter.VmExitRoundTrip, "vmexit_roundtrip_ns", TimingUnit.Nanoseconds, 650, 500, 800, "VMCALL 1,559 cycles at 2.5 GHz (kvm@vger 2020); Dall ATC'17 Table 2"),
        new(TimingParameter.InstructionDecode, "insn_decode_emulate_ns", TimingUnit.Nanoseconds, 450, 300, 600, "Dall ATC'17 I/O-kernel minus hypercall, 1,128 cycles"),
        new(TimingParameter.ExitToUser, "exit_to_user_ns", TimingUnit.Nanoseconds, 2_000, 1_500, 2_500, "Dall ATC'17 I/O-user minus I/O-kernel"),
        new(TimingParameter.DeviceModelDispatch, "device_model_dispatch_ns", TimingUnit.Nanoseconds, 2_300, 1_000, 5_000, "Fan, qemu-devel 2022: 5.5 us saved per removed doorbell exit, minus the user exit"),
        new(TimingParameter.EmulatedMainLoop, "emulated_mainloop_ns", TimingUnit.Nanoseconds, 16_000, 0, 30_000, "calibrated: the null-device emulated - virtio-blk gap of 22.9 us per I/O (Fan 2022) end to end; LA §8 proposes 12,000"),
        new(TimingParameter.KickExit, "kick_exit_ns", TimingUnit.Nanoseconds, 1_000, 600, 2_000, "ioeventfd fast MMIO (Tsirkin 68c3b4d1676d); DVH notify 4,984 cycles as bound"),
        new(TimingParameter.BackendWakeup, "backend_wakeup_ns", TimingUnit.Nanoseconds, 3_000, 0, 8_000, "virtio-blk+IOThread 8.8 us over bare metal (Hajnoczi 2020), split"),
        new(TimingParameter.HostBlockStack, "host_block_stack_ns", TimingUnit.Nanoseconds, 3_400, 2_000, 5_000, "21.5 -> 18.1 us when QEMU bypasses the host kernel (Hajnoczi 2020)"),
        new(TimingParameter.VmfsLayer, "vmfs_layer_ns", TimingUnit.Nanoseconds, 1_500, 500, 5_000, "assumption; no published per-I/O VMFS cost"),
        new(TimingParameter.InterruptInjection, "virq_inject_ns", TimingUnit.Nanoseconds, 1_400, 1_200, 1_800, "virtual IPI 3,102 cycles (Dall ATC'17); IPI fastpath 3,293-4,238 cycles (kvm@vger 2020)"),
        new(TimingParameter.EoiExit, "eoi_exit_ns", TimingUnit.Nanoseconds, 740, 0, 800, "virtual IRQ completion 1,556 cycles at 2.1 GHz (Dall ISCA'16)"),
        new(TimingParameter.HaltWakeup, "vcpu_halt_wakeup_ns", TimingUnit.Nanoseconds, 3_000, 0, 12_000, "halt-polling doc: a few us; VFIO 16.9 vs 11.4 us with haltpoll"),
        new(TimingParameter.PostedInterrupt, "posted_interrupt_ns", TimingUnit.Nanoseconds, 300, 200, 600, "VT-d posted interrupts, no exit; DID -80% (VEE'15); absolute value derived"),
        new(TimingParameter.MmioPostedWrite, "mmio_posted_write_ns", TimingUnit.Nanoseconds, 100, 50, 300, "UC write TLP spacing 50-300 ns (Intel community)"),
        new(TimingParameter.MmioReadRoundTrip, "mmio_read_rtt_ns", TimingUnit.Nanoseconds, 1_000, 500, 5_000, "CPU MMIO reads 2-5 us measured, sub-us on good root complexes"),
        new(TimingParameter.PostedWriteLatency, "posted_write_latency_ns", TimingUnit.Nanoseconds, 280, 100, 500, "half a DMA read round trip (latency-anchors §4.3)"),
        new(TimingParameter.DmaReadRoundTrip, "dma_read_rtt_ns", TimingUnit.Nanoseconds, 560, 520, 1_000, "pcie-bench Broadwell NFP-6000 64 B median (Neugebauer SIGCOMM'18 data)"),
        new(TimingParameter.IotlbMissPenalty, "iotlb_miss_penalty_ns", TimingUnit.Nanoseconds, 280, 250, 350, "pcie-bench IOMMU-on windows >= 1 MiB: 840 - 560 ns"),
        new(TimingParameter.IotlbEntries, "iotlb_entries", TimingUnit.Count, 64, 1, 4_096, "miss onset between 256 and 512 KiB windows (pcie-bench)"),
        new(TimingParameter.PcieGeneration, "pcie_gen", TimingUnit.Count, 3, 1, 5, "Gen3 NVMe as in the reference platform"),
        new(TimingParameter.PcieWidth, "pcie_width", TimingUnit.Count, 4, 1, 32, "x4, the usual NVMe link") { PowerOfTwo = true },
        new(TimingParameter.MaxPayloadSize, "mps_bytes", TimingUnit.Bytes, 256, 128, 4_096, "typical server default (pcie-model)") { PowerOfTwo = true },
        new(TimingParameter.TlpOverheadWrite, "tlp_overhead_write_bytes", TimingUnit.Bytes, 24, 20, 32, "MWr 64-bit with framing and DLLP (pcie-model)"),
        new(TimingParameter.TlpOverheadRead, "tlp_overhead_read_bytes", TimingUnit.Bytes, 24, 20, 32, "MRd 64-bit with framing and DLLP (pcie-model)"),
        new(TimingParameter.TlpOverheadCompletion, "tlp_overhead_completion_bytes", TimingUnit.Bytes, 20, 20, 28, "CplD with framing and DLLP (pcie-model)"),
        new(TimingParameter.ControllerFirmware, "controller_firmware_ns", TimingUnit.Nanoseconds, 2_000, 0, 30_000, "assumption: hardware in the data path adds 2-3 us (FAST'26 DPU, BM-Store FPGA)"),
        new(TimingParameter.OsIoSubmit, "os_io_submit_ns", TimingUnit.Nanoseconds, 1_500, 500, 5_000, "native stack 3.8 us = 12.7 - 8.9 us (Hajnoczi 2020 on Optane), split"),
        new(TimingParameter.OsIoComplete, "os_io_complete_ns", TimingUnit.Nanoseconds, 2_300, 500, 5_000, "native stack remainder; interrupt path ~3 us over polling (Yang FAST'12)"),
        new(TimingParameter.Apicv, "apicv", TimingUnit.Flag, 1, 0, 1, "APICv on current Xeons"),
        new(TimingParameter.PostedInterrupts, "posted_interrupts", TimingUnit.Flag, 1, 0, 1, "VT-d posted interrupts on current Xeons"),
        new(TimingParameter.ExternalInterruptExit, "external_interrupt_exit_ns", TimingUnit.Nanoseconds, 1_100, 600, 2_000, "exit-based MSI: exit + injection about 2 us with EOI (latency-anchors §8)"),
        new(TimingParameter.ReadCompletionSize, "read_completion_bytes", TimingUnit.Bytes, 64, 64, 4_096, "root-complex RCB 64 B (PCIe Base §2.3.1.1; latency-anchors §8 rcb); used as min(this, MPS)") { PowerOfTwo = true },
        new(TimingParameter.PvMainLoop, "pv_mainloop_ns", TimingUnit.Nanoseconds, 0, 0, 30_000, "virtio-blk on the QEMU main loop 45.8 vs 21.5 us with an IOThread (Hajnoczi 2020); 0 = IOThread"),
    ];

    static readonly FrozenDictionary<string, TimingParameterInfo> ByName =
        Table.ToFrozenDictionary(p => p.Name, StringComparer.Ordinal);

    readonly ulong[] _values;

    /// <summary>The defaults.</summary>
    public TimingParameters()
    {
        _values = new ulong[Table.Count];
        foreach (var p in Table) _values[(int)p.Parameter] = p.Default;
    }

    TimingParameters(ulong[] values) => _values = values;

    /// <summary>The value of <paramref name="p"/>.</summary>
    public ulong this[TimingParameter p] => _values[(int)p];

    /// <summary>A copy with <paramref name="p"/> set to <paramref name="value"/> (checked against the table's range).</summary>
    public TimingParameters With(TimingParameter p, ulong value)
    {
        var info = Table[(int)p];
        if (!info.IsValid(value))
            throw new ArgumentOutOfRangeException(nameof(value), $"{info.Name} = {value} is not {info.RangeText}");
        var copy = (ulong[])_values.Clone();
        copy[(int)p] = value;
        return new TimingParameters(copy);
    }

    /// <summary>The row named <paramref name="name"/> in model files, or null.</summary>
    public static TimingParameterInfo? Find(string name) => ByName.GetValueOrDefault(name);

    /// <summary>Parameters that differ from the defaults, as name=value (for reports).</summary>
    public IEnumerable<string> Overrides() =>
        Table.Where(p => _values[(int)p.Parameter] != p.Default)
             .Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name}={_values[(int)p.Parameter]}"));

    /// <summary>Whether the flag parameter <paramref name="p"/> is set.</summary>
    public bool IsSet(TimingParameter p) => _values[(int)p] != 0;
}
