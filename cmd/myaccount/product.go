package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/myaccount/myaccount/internal/licence"
	"github.com/myaccount/myaccount/storage"
)

// productID: the id is printed in tokens' licences claim and typed in commands, so it is
// kept to lower-case words.
var productID = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

const productUsage = "usage: myaccount product create|list|show|update|delete"

// cmdProduct: myaccount product create|list|show|update|delete (issue 14).
func cmdProduct(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return errors.New(productUsage)
	}
	if groupHelp(e, "product", productUsage, args[0]) {
		return nil
	}
	switch args[0] {
	case "create", "update":
		return productWrite(ctx, e, args[0], args[1:])
	case "list", "show", "delete":
		return productOther(ctx, e, args[0], args[1:])
	default:
		return fmt.Errorf("unknown product command %q", args[0])
	}
}

type productView struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Clients   []string `json:"clients"`
	CreatedAt string   `json:"created_at"`
	UpdatedAt string   `json:"updated_at"`
}

func viewProduct(p *storage.Product) productView {
	cs := p.ClientIDs
	if cs == nil {
		cs = []string{}
	}
	return productView{ID: p.ID, Name: p.Name, Clients: cs, CreatedAt: p.CreatedAt.UTC().Format(time.RFC3339),
		UpdatedAt: p.UpdatedAt.UTC().Format(time.RFC3339)}
}

func productWrite(ctx context.Context, e env, sub string, args []string) error {
	fs, path := newFlags(e, "product "+sub)
	id := fs.String("id", "", "product id, e.g. antivirus (lower case)")
	name := fs.String("name", "", "name shown to people, e.g. \"Antivirus\"")
	var clients, remove multiFlag
	fs.Var(&clients, "client", "OAuth client id that is this product's app (repeatable)")
	fs.Var(&remove, "remove-client", "update: client id to unlink (repeatable)")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *id == "" && len(pos) == 1 {
		*id = pos[0]
	} else if len(pos) > 0 {
		return fmt.Errorf("usage: myaccount product %s --id ID [--name NAME] [--client CLIENT_ID ...]", sub)
	}
	if !productID.MatchString(*id) {
		return fmt.Errorf("--id %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", *id)
	}
	*name = strings.TrimSpace(*name)
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	var p *storage.Product
	if sub == "create" {
		if *name == "" {
			return errors.New("--name is required")
		}
		if len(remove) > 0 {
			return errors.New("--remove-client is for update")
		}
		p = &storage.Product{ID: *id, Name: *name, ClientIDs: clients, CreatedAt: time.Now().UTC()}
		if err := st.CreateProduct(ctx, p); err != nil {
			return productErr(*id, err)
		}
	} else {
		p, err = st.UpdateProduct(ctx, *id, func(p *storage.Product) error {
			if *name != "" {
				p.Name = *name
			}
			p.ClientIDs = append(p.ClientIDs, clients...)
			p.ClientIDs = slices.DeleteFunc(p.ClientIDs, func(c string) bool { return slices.Contains(remove, c) })
			return nil
		})
		if err != nil {
			return productErr(*id, err)
		}
	}
	// A product's apps ask for the licences scope; a client gets a scope only if it has it.
	for _, c := range p.ClientIDs {
		if _, err := st.UpdateClient(ctx, c, func(cl *storage.Client) error {
			if !slices.Contains(cl.Scopes, licence.Scope) {
				cl.Scopes = append(cl.Scopes, licence.Scope)
				cl.UpdatedAt = time.Now().UTC()
			}
			return nil
		}); err != nil {
			return fmt.Errorf("allow the %s scope to client %q: %w", licence.Scope, c, err)
		}
	}
	if *asJSON {
		return printJSON(e.stdout, viewProduct(p))
	}
	return printFields(e.stdout, viewProduct(p))
}

// productErr says what a storage outcome means for the admin.
func productErr(id string, err error) error {
	switch {
	case errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("product %q: the id is taken, a client is already another product's, or (delete) it has licences: %w", id, err)
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("product %q or one of its clients does not exist: %w", id, err)
	}
	return err
}

func productOther(ctx context.Context, e env, sub string, args []string) error {
	fs, path := newFlags(e, "product "+sub)
	asJSON := fs.Bool("json", false, "print JSON")
	var id *string
	if sub != "list" {
		// As create and update take it; the argument works as well.
		id = fs.String("id", "", "product id (or give it as the argument)")
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if id != nil && *id != "" {
		pos = append(pos, *id)
	}
	if sub != "list" && len(pos) != 1 {
		return fmt.Errorf("usage: myaccount product %s ID|--id ID [--json]", sub)
	}
	_, st, err := openStore(ctx, e, *path)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		ps, err := st.ListProducts(ctx)
		if err != nil {
			return err
		}
		views := make([]productView, 0, len(ps))
		for _, p := range ps {
			views = append(views, viewProduct(p))
		}
		if *asJSON {
			return printJSON(e.stdout, views)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCLIENTS")
		for _, v := range views {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", v.ID, v.Name, strings.Join(v.Clients, ","))
		}
		return tw.Flush()
	case "show":
		p, err := st.GetProduct(ctx, pos[0])
		if err != nil {
			return productErr(pos[0], err)
		}
		if *asJSON {
			return printJSON(e.stdout, viewProduct(p))
		}
		return printFields(e.stdout, viewProduct(p))
	default: // delete
		if err := st.DeleteProduct(ctx, pos[0]); err != nil {
			return productErr(pos[0], err)
		}
		if *asJSON {
			return printJSON(e.stdout, map[string]any{"id": pos[0], "deleted": true})
		}
		fmt.Fprintf(e.stdout, "product %s deleted\n", pos[0])
		return nil
	}
}
