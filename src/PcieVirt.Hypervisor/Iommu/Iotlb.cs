namespace PcieVirt.Hypervisor.Iommu;

/// <summary>
/// The IOTLB: a fully associative cache of leaf translations tagged (domain id, IOVA page), with least recently
/// used replacement kept as a doubly linked list over fixed slot arrays. A dictionary from tag to slot gives
/// O(1) lookups; it is created with its final capacity, so lookups, fills and invalidations allocate nothing.
/// </summary>
internal sealed class Iotlb
{
    readonly record struct Tag(int Domain, ulong Page);

    readonly Dictionary<Tag, int> _index;
    readonly Tag[] _tags;
    readonly ulong[] _values;
    readonly int[] _prev, _next;
    readonly int[] _free;
    int _freeCount;
    int _mru = -1, _lru = -1;

    public Iotlb(int capacity)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), "the IOTLB needs at least one entry");
        Capacity = capacity;
        _index = new Dictionary<Tag, int>(capacity);
        _tags = new Tag[capacity];
        _values = new ulong[capacity];
        _prev = new int[capacity];
        _next = new int[capacity];
        _free = new int[capacity];
        for (int i = 0; i < capacity; i++) _free[i] = capacity - 1 - i; // slot 0 is used first
        _freeCount = capacity;
    }

    public int Capacity { get; }
    public int Count => _index.Count;
    public long Evictions { get; private set; }
    public long Invalidations { get; private set; }

    public bool TryLookup(int domain, ulong page, out ulong value)
    {
        if (_index.TryGetValue(new Tag(domain, page), out int slot))
        {
            MoveToFront(slot);
            value = _values[slot];
            return true;
        }
        value = 0;
        return false;
    }

    public bool Contains(int domain, ulong page) => _index.ContainsKey(new Tag(domain, page));

    public void Insert(int domain, ulong page, ulong value)
    {
        var tag = new Tag(domain, page);
        if (_index.TryGetValue(tag, out int slot))
        {
            _values[slot] = value;
            MoveToFront(slot);
            return;
        }
        if (_freeCount == 0)
        {
            // Evict the least recently used entry.
            slot = _lru;
            Unlink(slot);
            _index.Remove(_tags[slot]);
            Evictions++;
        }
        else slot = _free[--_freeCount];
        _tags[slot] = tag;
        _values[slot] = value;
        _index.Add(tag, slot);
        LinkFront(slot);
    }

    public void InvalidatePage(int domain, ulong page)
    {
        if (_index.Remove(new Tag(domain, page), out int slot)) Release(slot);
    }

    public void InvalidateDomain(int domain)
    {
        for (int slot = _mru; slot >= 0;)
        {
            int next = _next[slot];
            if (_tags[slot].Domain == domain)
            {
                _index.Remove(_tags[slot]);
                Release(slot);
            }
            slot = next;
        }
    }

    public void InvalidateAll()
    {
        while (_mru >= 0)
        {
            int slot = _mru;
            _index.Remove(_tags[slot]);
            Release(slot);
        }
    }

    void Release(int slot)
    {
        Unlink(slot);
        _free[_freeCount++] = slot;
        Invalidations++;
    }

    void MoveToFront(int slot)
    {
        if (slot == _mru) return;
        Unlink(slot);
        LinkFront(slot);
    }

    void LinkFront(int slot)
    {
        _prev[slot] = -1;
        _next[slot] = _mru;
        if (_mru >= 0) _prev[_mru] = slot;
        _mru = slot;
        if (_lru < 0) _lru = slot;
    }

    void Unlink(int slot)
    {
        int p = _prev[slot], n = _next[slot];
        if (p >= 0) _next[p] = n; else _mru = n;
        if (n >= 0) _prev[n] = p; else _lru = p;
    }
}
