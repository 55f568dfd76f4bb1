/*
 * citylake-table.js — the part of bootstrap-table that the GX Data Docs index uses, so that the
 * index works offline (bootstrap-table is on no package index; citylake.quality.expectations.offline
 * links this file in its place).
 *
 * GX renders each index table as $(table).bootstrapTable({columns, data, toolbar, search, sortName,
 * sortOrder, rowStyle, rowAttributes, pagination, ...}), listens for 'click-row.bs.table' and calls
 * bootstrapTable('clearFilterControl') / bootstrapTable('resetSearch'). Cells hold GX's own HTML
 * (icons, links), inserted as bootstrap-table does with its default escape: false.
 */
(function ($) {
  "use strict";

  var PAGE_SIZE = 50;

  function truthy(value) {
    return value === true || value === "true";
  }

  // GX names its row callbacks by the global function's name.
  function callback(value) {
    if (typeof value === "function") return value;
    if (typeof value === "string" && typeof window[value] === "function") return window[value];
    return null;
  }

  function plainText(html) {
    return $("<div>").html(html === undefined || html === null ? "" : String(html)).text().trim();
  }

  function Table($table, options) {
    this.$table = $table;
    this.options = options;
    this.columns = options.columns || [];
    this.rows = (options.data || []).slice();
    this.query = "";
    this.page = 0;
    this.sortField = options.sortName || null;
    this.sortOrder = options.sortOrder === "desc" ? "desc" : "asc";
    this.render();
  }

  Table.prototype.sortValue = function (row, field) {
    var column = this.columns.filter(function (c) { return c.field === field; })[0];
    var key = column && column.sortName ? column.sortName : field;
    var value = row[key];
    return typeof value === "number" ? value : plainText(value).toLowerCase();
  };

  Table.prototype.visibleRows = function () {
    var self = this, query = this.query.toLowerCase();
    var rows = this.rows.filter(function (row) {
      if (!query) return true;
      return self.columns.some(function (c) { return plainText(row[c.field]).toLowerCase().indexOf(query) >= 0; });
    });
    if (this.sortField) {
      var field = this.sortField, sign = this.sortOrder === "desc" ? -1 : 1;
      rows.sort(function (a, b) {
        var x = self.sortValue(a, field), y = self.sortValue(b, field);
        return x < y ? -sign : x > y ? sign : 0;
      });
    }
    return rows;
  };

  Table.prototype.render = function () {
    var self = this, options = this.options, $table = this.$table;
    $table.addClass("table table-hover citylake-table").empty();
    if (!this.$toolbar) {
      this.$toolbar = $('<div class="citylake-table-toolbar d-flex justify-content-end mb-1"></div>');
      if (options.toolbar) this.$toolbar.append($(options.toolbar));
      if (truthy(options.search)) {
        this.$search = $('<input type="search" class="form-control form-control-sm ml-1 citylake-table-search" placeholder="Search">');
        this.$search.on("input", function () { self.query = this.value; self.page = 0; self.render(); });
        this.$toolbar.append(this.$search);
      }
      this.$pager = $('<div class="citylake-table-pager d-flex justify-content-end align-items-center mt-1"></div>');
      $table.before(this.$toolbar).after(this.$pager);
    }
    var $head = $("<tr></tr>");
    this.columns.forEach(function (column) {
      var $th = $("<th></th>").text(column.title || column.field);
      if (column.align) $th.css("text-align", column.align);
      if (truthy(column.sortable)) {
        $th.addClass("citylake-sortable").attr("data-field", column.field);
        if (self.sortField === column.field) $th.addClass(self.sortOrder);
        $th.on("click", function () {
          self.sortOrder = self.sortField === column.field && self.sortOrder === "asc" ? "desc" : "asc";
          self.sortField = column.field;
          self.render();
        });
      }
      $head.append($th);
    });
    $table.append($("<thead></thead>").append($head));
    var rows = this.visibleRows();
    var size = truthy(options.pagination) ? PAGE_SIZE : rows.length || 1;
    var pages = Math.max(1, Math.ceil(rows.length / size));
    this.page = Math.min(this.page, pages - 1);
    var $body = $("<tbody></tbody>");
    var rowStyle = callback(options.rowStyle), rowAttributes = callback(options.rowAttributes);
    rows.slice(this.page * size, (this.page + 1) * size).forEach(function (row, index) {
      var $tr = $("<tr></tr>");
      if (rowAttributes) $.each(rowAttributes(row, index) || {}, function (name, value) { $tr.attr(name, value); });
      if (rowStyle) {
        var style = rowStyle(row, index) || {};
        if (style.css) $tr.css(style.css);
        if (style.classes) $tr.addClass(style.classes);
      }
      self.columns.forEach(function (column) {
        var $td = $("<td></td>").html(row[column.field] === undefined ? "" : row[column.field]);
        if (column.align) $td.css("text-align", column.align);
        $tr.append($td);
      });
      $tr.on("click", function () { $table.trigger("click-row.bs.table", [row, $tr]); });
      $body.append($tr);
    });
    if (!rows.length) {
      $body.append($('<tr class="no-records-found"></tr>').append(
        $("<td></td>").attr("colspan", this.columns.length).text("No matching records found")));
    }
    $table.append($body);
    this.$pager.empty();
    if (pages > 1) {
      var $prev = $('<button type="button" class="btn btn-sm btn-light">&laquo;</button>').prop("disabled", this.page === 0);
      var $next = $('<button type="button" class="btn btn-sm btn-light">&raquo;</button>').prop("disabled", this.page === pages - 1);
      $prev.on("click", function () { self.page -= 1; self.render(); });
      $next.on("click", function () { self.page += 1; self.render(); });
      this.$pager.append($prev, $('<span class="mx-2"></span>').text((this.page + 1) + " / " + pages + " (" + rows.length + ")"), $next);
    }
  };

  Table.prototype.resetSearch = function () {
    this.query = "";
    if (this.$search) this.$search.val("");
    this.render();
  };

  // citylake-table has no column filters: clearing them is clearing the search.
  Table.prototype.clearFilterControl = Table.prototype.resetSearch;

  $.fn.bootstrapTable = function (option) {
    var args = Array.prototype.slice.call(arguments, 1);
    return this.each(function () {
      var $table = $(this), table = $table.data("citylake.table");
      if (typeof option === "string") {
        if (table && typeof table[option] === "function") table[option].apply(table, args);
        return;
      }
      $table.data("citylake.table", new Table($table, option || {}));
    });
  };
})(jQuery);
