namespace PcieVirt.Hypervisor.Memory;

/// <summary>
/// A 4-level radix table of 512-entry nodes over a 48-bit address space, 4 KiB leaves: the shape of
/// x86 EPT (Intel SDM Vol. 3C, "EPT Translation Mechanism") and of VT-d second-stage tables (VT-d rev. 5.10 §3.7, §9.8). Why this
/// structure: a lookup is four array indexings with no hashing, no search and no allocation, the cost
/// does not depend on how many regions are mapped, and it is the structure students meet in the specs.
/// A leaf entry is an opaque non-zero <see cref="ulong"/> chosen by the owner; 0 means not present.
/// Empty leaf tables are freed on clear, so unmapping gives memory back.
/// </summary>
internal sealed class RadixPageTable
{
    public const int PageShift = 12;
    public const ulong PageSize = 1UL << PageShift;
    public const ulong PageMask = PageSize - 1;
    /// <summary>First address above the 48-bit space the four levels cover.</summary>
    public const ulong AddressLimit = 1UL << 48;

    const int IndexBits = 9;
    const int Fanout = 1 << IndexBits;
    const int IndexMask = Fanout - 1;

    sealed class Node
    {
        // Levels 4..2 use Children; level 1 (the page table) uses Entries.
        public Node?[]? Children;
        public ulong[]? Entries;
        public int Used;
    }

    readonly Node _root = new() { Children = new Node?[Fanout] };

    /// <summary>Present leaf entries.</summary>
    public long PresentPages { get; private set; }

    static int Index(ulong address, int level) => (int)(address >> (PageShift + IndexBits * (level - 1))) & IndexMask;

    /// <summary>The leaf entry for the page holding <paramref name="address"/>, 0 when not present. No allocation.</summary>
    public ulong Lookup(ulong address)
    {
        if (address >= AddressLimit) return 0;
        var l3 = _root.Children![Index(address, 4)];
        if (l3 == null) return 0;
        var l2 = l3.Children![Index(address, 3)];
        if (l2 == null) return 0;
        var l1 = l2.Children![Index(address, 2)];
        if (l1 == null) return 0;
        return l1.Entries![Index(address, 1)];
    }

    /// <summary>Sets the leaf entry of a page (creating the tables on the way); <paramref name="entry"/> must be non-zero.</summary>
    public void Set(ulong address, ulong entry)
    {
        var l3 = Child(_root, Index(address, 4), leaf: false);
        var l2 = Child(l3, Index(address, 3), leaf: false);
        var l1 = Child(l2, Index(address, 2), leaf: true);
        ref ulong slot = ref l1.Entries![Index(address, 1)];
        if (slot == 0)
        {
            l1.Used++;
            PresentPages++;
        }
        slot = entry;
    }

    /// <summary>Clears a page's leaf entry; returns the old entry (0 if it was not present).</summary>
    public ulong Clear(ulong address)
    {
        if (address >= AddressLimit) return 0;
        var l3 = _root.Children![Index(address, 4)];
        var l2 = l3?.Children![Index(address, 3)];
        var l1 = l2?.Children![Index(address, 2)];
        if (l1 == null) return 0;
        ref ulong slot = ref l1.Entries![Index(address, 1)];
        ulong old = slot;
        if (old == 0) return 0;
        slot = 0;
        PresentPages--;
        if (--l1.Used == 0) l2!.Children![Index(address, 2)] = null;
        return old;
    }

    static Node Child(Node parent, int index, bool leaf)
    {
        ref Node? c = ref parent.Children![index];
        c ??= leaf ? new Node { Entries = new ulong[Fanout] } : new Node { Children = new Node?[Fanout] };
        return c;
    }

    /// <summary>Every present page in address order (allocates; for listings).</summary>
    public IEnumerable<(ulong Page, ulong Entry)> Present()
    {
        for (int i4 = 0; i4 < Fanout; i4++)
        {
            var l3 = _root.Children![i4];
            if (l3 == null) continue;
            for (int i3 = 0; i3 < Fanout; i3++)
            {
                var l2 = l3.Children![i3];
                if (l2 == null) continue;
                for (int i2 = 0; i2 < Fanout; i2++)
                {
                    var l1 = l2.Children![i2];
                    if (l1 == null) continue;
                    for (int i1 = 0; i1 < Fanout; i1++)
                    {
                        ulong e = l1.Entries![i1];
                        if (e == 0) continue;
                        ulong page = ((ulong)i4 << 39) | ((ulong)i3 << 30) | ((ulong)i2 << 21) | ((ulong)i1 << 12);
                        yield return (page, e);
                    }
                }
            }
        }
    }

    /// <summary>Throws unless [<paramref name="address"/>, +<paramref name="size"/>) is a non-empty, 4 KiB aligned range inside the 48-bit space.</summary>
    public static void CheckRange(ulong address, ulong size, string what)
    {
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size), $"{what}: size must not be zero");
        if ((address & PageMask) != 0 || (size & PageMask) != 0)
            throw new ArgumentException($"{what}: address 0x{address:x} and size 0x{size:x} must be 4 KiB aligned");
        if (address >= AddressLimit || size > AddressLimit - address)
            throw new ArgumentOutOfRangeException(nameof(address), $"{what}: [0x{address:x}, +0x{size:x}) exceeds the 48-bit address space");
    }
}
