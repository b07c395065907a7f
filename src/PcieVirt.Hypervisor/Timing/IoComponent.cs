namespace PcieVirt.Hypervisor.Timing;

/// <summary>Where an I/O's time goes: the rows of the per-component latency breakdown.</summary>
public enum IoComponent
{
    /// <summary>Guest (or bare-metal) OS block layer and driver: submit and completion handling.</summary>
    GuestStack,
    /// <summary>CPU cost of doorbell writes that reach the device without an exit.</summary>
    Doorbell,
    /// <summary>VM exit and re-entry (hardware round trip) of trapped MMIO.</summary>
    VmExit,
    /// <summary>Decoding and emulating the faulting instruction (Iced).</summary>
    InstructionDecode,
    /// <summary>Bouncing an exit to the VMM process and back.</summary>
    ExitToUser,
    /// <summary>The VMM's device model: register emulation, command parsing, main loop.</summary>
    DeviceModel,
    /// <summary>Paravirtual notify exit.</summary>
    Kick,
    /// <summary>Waking the paravirtual backend thread.</summary>
    BackendWakeup,
    /// <summary>Virtual-disk file system mapping.</summary>
    Vmfs,
    /// <summary>Host block layer and the host's driver on the PF.</summary>
    HostBlockStack,
    /// <summary>PCIe link time: doorbell and MSI flight, DMA round trips and data transfer.</summary>
    Link,
    /// <summary>IOTLB misses on the device's DMA.</summary>
    Iommu,
    /// <summary>RAID controller firmware.</summary>
    Controller,
    /// <summary>Drive media service (and waiting for a busy drive).</summary>
    Media,
    /// <summary>Delivering the completion interrupt: injection, posted interrupt, external-interrupt exit.</summary>
    Interrupt,
    /// <summary>Waking a halted vCPU.</summary>
    HaltWakeup,
    /// <summary>EOI exits (no APIC virtualization).</summary>
    EoiExit,
    /// <summary>Time waiting for a busy vCPU or host thread (queueing); the rest of the total.</summary>
    Waiting,
}
