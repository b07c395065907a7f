using PcieVirt.Hypervisor.Interrupts;
using PcieVirt.Pci;

namespace PcieVirt.Hypervisor.Iommu;

/// <summary>
/// An interrupt remapping table entry (IRTE; VT-d rev. 5.10 §9.9 for remapped and §9.10 for posted interrupts). Present entries accept messages only from <see cref="SourceId"/> (source-id
/// validation of the full requester ID, SVT = 01b, SQ = 00b). A remapped entry turns the message into
/// <see cref="Vector"/> for the APIC <see cref="Destination"/>; a posted entry records guest vector
/// <see cref="Vector"/> in <see cref="PostedDescriptor"/>.
/// </summary>
public readonly record struct InterruptRemapEntry(bool Present, Bdf SourceId, byte Vector, uint Destination,
    PostedInterruptDescriptor? PostedDescriptor)
{
    /// <summary>True for a posted-format entry.</summary>
    public bool IsPosted => PostedDescriptor != null;

    /// <summary>A remapped entry: messages from <paramref name="source"/> become host vector <paramref name="vector"/> at APIC <paramref name="destination"/>.</summary>
    public static InterruptRemapEntry Remapped(Bdf source, byte vector, uint destination) => new(true, source, vector, destination, null);

    /// <summary>A posted entry: messages from <paramref name="source"/> post <paramref name="guestVector"/> into <paramref name="descriptor"/>.</summary>
    public static InterruptRemapEntry Posted(Bdf source, PostedInterruptDescriptor descriptor, byte guestVector) =>
        new(true, source, guestVector, 0, descriptor ?? throw new ArgumentNullException(nameof(descriptor)));
}
